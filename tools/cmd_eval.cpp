// advmoe eval: clean accuracy (SA) of a checkpoint on a dataset's test split and, unless
// --attack none, robust accuracy (RA) under PGD / FGSM or the AutoAttack evaluation (the aa cascade
// or one of its attacks), with MoE expert usage. --component experts / router attacks one part of
// an MoE (RA-E, RA-R); --dual evaluates the dual model of two checkpoints (docs/dual.md).
#include <chrono>
#include <cstdio>
#include <sstream>

#include "datasets/registry.h"
#include "models/dual_model.h"
#include "models/registry.h"
#include "tools/attack_options.h"
#include "tools/device_options.h"
#include "training/attacks/cascade_report.h"
#include "training/checkpoint.h"
#include "training/dual_checkpoint.h"
#include "training/evaluate.h"
#include "training/run_files.h"

namespace advmoe {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int cmd_eval(const std::vector<std::string>& args) {
  std::string checkpoint, dataset, data_dir;
  DeviceOptions device;
  int batch = 256, threads = 0;
  int64_t test_limit = 0;
  uint64_t seed = 0;
  AttackOptions attack;
  attack.attack = "none";
  std::string json_path, adversarial_path, state_path;
  int apgd_iterations = 100, fab_iterations = 100, square_queries = 5000, target_classes = 9;
  int64_t max_batches = -1;
  std::string component = "model";
  std::vector<std::string> dual_paths;
  std::string alpha_text = "0.7";
  po::options_description o("eval options");
  auto add = o.add_options();
  add("checkpoint", po::value(&checkpoint)->default_value(""), "checkpoint file (.h5)");
  add("component", po::value(&component)->default_value("model"),
      "MoE: what the attack moves. model: the whole MoE (RA) | experts: the routers see the clean "
      "image, so every route stays the clean one, and the experts see x_adv (RA-E) | router: the "
      "routers see x_adv, the experts the clean image with the routes chosen on x_adv (RA-R; the "
      "gradient reaches x_adv through the routers' straight-through surrogate)");
  add("dual", po::value(&dual_paths)->multitoken(),
      "STD.h5 ROB.h5: evaluate the dual model (1 - alpha) F_std(x) + alpha F_rob(x) of two "
      "checkpoints (logits combined; attacks differentiate the combination)");
  add("alpha", po::value(&alpha_text)->default_value("0.7"),
      "--dual: the robust model's share alpha in [0, 1]");
  add("dataset", po::value(&dataset)->default_value(""), "dataset (default: the checkpoint's)");
  add("data-dir", po::value(&data_dir)->default_value(""), "dataset folder");
  add("batch-size", po::value(&batch)->default_value(256), "batch size");
  add("test-limit", po::value(&test_limit)->default_value(0), "use the first N test images");
  add("threads", po::value(&threads)->default_value(0), "CPU threads (0: all cores)");
  add("seed", po::value(&seed)->default_value(0), "seed of the attack's random starts");
  add_attack_options(o, attack);
  add("json", po::value(&json_path)->default_value(""),
      "write the results as JSON (PGD / FGSM: SA, RA of the component attacked, the attack; "
      "AutoAttack: per attack and per class counts, RA, seconds, MoE route changes)");
  add("save-adversarial", po::value(&adversarial_path)->default_value(""),
      "AutoAttack attacks: write the worst-case images and per-sample outcome to this HDF5 file "
      "(docs/evaluation.md)");
  add("state", po::value(&state_path)->default_value(""),
      "AutoAttack attacks: keep the progress in this file after every batch; an interrupted "
      "evaluation started again with the same file resumes and gives the same numbers");
  add("apgd-iterations", po::value(&apgd_iterations)->default_value(100),
      "APGD iterations (100 in the standard version)");
  add("fab-iterations", po::value(&fab_iterations)->default_value(100),
      "FAB-T iterations per target (100 in the standard version)");
  add("square-queries", po::value(&square_queries)->default_value(5000),
      "Square queries (5000 in the standard version)");
  add("target-classes", po::value(&target_classes)->default_value(9),
      "APGD-T / FAB-T target classes (9 in the standard version)");
  add("max-batches", po::value(&max_batches)->default_value(-1),
      "stop after this many attack batches (with --state: resume later)");
  add_device_options(o, device);
  po::variables_map vm;
  if (!parse_command("eval", "Evaluate a checkpoint on a test set, clean and under attack.", o,
                     args, vm))
    return 0;
  require(batch >= 1 && batch <= 65536, "eval",
          "--batch-size must be in [1, 65536], got " + std::to_string(batch));
  require(test_limit >= 0, "eval", "--test-limit must be >= 0, got " + std::to_string(test_limit));
  require(checkpoint.empty() != dual_paths.empty(), "eval",
          "give either --checkpoint FILE or --dual STD.h5 ROB.h5");
  require(
      dual_paths.empty() || dual_paths.size() == 2, "eval",
      "--dual takes two checkpoints (standard, robust), got " + std::to_string(dual_paths.size()));
  require(component == "model" || component == "experts" || component == "router", "eval",
          "--component must be model, experts or router, got '" + component + "'");
  require(component == "model" || dual_paths.empty(), "eval",
          "--component experts / router attacks one part of a single MoE, not a dual model");
  const double alpha = parse_fraction_in("--alpha", alpha_text, 0, 1);
  require(seed <= (uint64_t{1} << 53), "eval",
          "--seed must be in [0, 2^53], got " + std::to_string(seed));
  const bool autoattack = is_cascade_attack(attack.attack);
  AttackOptions checked = attack;
  if (autoattack) checked.attack = "pgd";        // --eps, --norm, --router-grad: the same checks
  PgdConfig pgd = pgd_config_of(checked, seed);  // validated even when --attack none
  // The router-only model's gradient reaches the image through the routers alone.
  if (component == "router") pgd.router_gradient = RouterGradient::StraightThrough;
  CascadeConfig cascade;
  if (autoattack) {
    try {
      cascade = cascade_for(attack.attack, pgd.norm);
    } catch (const Error& e) {
      throw UsageError{std::string("advmoe eval: ") + e.what()};
    }
    auto in_range = [](const char* name, int64_t v, int64_t lo, int64_t hi) {
      require(v >= lo && v <= hi, "eval",
              std::string("--") + name + " must be in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "], got " + std::to_string(v));
    };
    in_range("apgd-iterations", apgd_iterations, 1, 100000);
    in_range("fab-iterations", fab_iterations, 1, 100000);
    in_range("square-queries", square_queries, 1, 1000000);
    in_range("target-classes", target_classes, 1, 1000);
    in_range("restarts", attack.restarts, 1, 1000);
    cascade.epsilon = pgd.epsilon;
    cascade.seed = seed;
    cascade.router_ste_too = pgd.router_gradient == RouterGradient::StraightThrough;
    cascade.router_ste_only = component == "router";
    cascade.apgd_iterations = apgd_iterations;
    cascade.fab_iterations = fab_iterations;
    cascade.square_queries = square_queries;
    cascade.target_classes = target_classes;
    cascade.restarts = attack.restarts;
    if (apgd_iterations != 100 || fab_iterations != 100 || square_queries != 5000 ||
        target_classes != 9 || attack.restarts != 1)
      cascade.version += ", non-standard budget (not comparable with standard AutoAttack)";
  } else {
    require(adversarial_path.empty() && state_path.empty(), "eval",
            "--save-adversarial and --state belong to the AutoAttack attacks (aa, aa-fast, "
            "apgd-ce, apgd-dlr, apgd-t, fab-t, square)");
  }
  set_threads(threads);

  const std::string described = dual_paths.empty()
                                    ? checkpoint
                                    : "dual model (1 - " + alpha_text + ") * " + dual_paths[0] +
                                          " + " + alpha_text + " * " + dual_paths[1];
  CheckpointHeader header = read_checkpoint_header(dual_paths.empty() ? checkpoint : dual_paths[0]);
  require(component == "model" || header.dual_alpha < 0, "eval",
          "--component experts / router attacks one part of a single MoE; '" + checkpoint +
              "' holds a dual model");
  if (component != "model")
    require(header.model.variant == "moe", "eval",
            "--component " + component + " attacks one part of an MoE; '" + checkpoint +
                "' holds a " + header.model.variant + " model (no routers, no experts)");
  if (autoattack) {
    // DLR divides by the gap between the 1st and 3rd logits (targeted: 3rd and 4th).
    bool targeted = false, dlr = false;
    for (EvalAttackKind k : cascade.attacks) {
      targeted |= k == EvalAttackKind::ApgdT;
      dlr |= k == EvalAttackKind::ApgdDlr;
    }
    require(!(targeted && header.model.classes < 4) && !(dlr && header.model.classes < 3), "eval",
            "--attack " + attack.attack + " uses the " + (targeted ? "targeted " : "") +
                "DLR loss, which needs at least " + (targeted ? "4" : "3") +
                " classes; the checkpoint's model has " + std::to_string(header.model.classes));
  }
  if (dataset.empty()) dataset = header.state.dataset;
  Dataset test = load_dataset(dataset, data_dir, "test", test_limit);
  ADVMOE_CHECK(test.size() > 0, "dataset " << test.name << " has no test images");
  ADVMOE_CHECK(test.image_shape() == header.model.image && test.num_classes == header.model.classes,
               "dataset " << dataset << " has images " << test.image_shape() << " and "
                          << test.num_classes << " classes; the checkpoint's model expects "
                          << header.model.image << " and " << header.model.classes);
  ModelConfig mc = header.model;
  mc.batch = batch;
  if (component != "model") {
    mc.route_source = component == "experts" ? "expert-images" : "router-images";
    mc.detach_router_input = component != "router";
  }
  Model model;
  auto backend = make_backend(device);
  Variables variables(*backend);
  if (!dual_paths.empty() || header.dual_alpha >= 0) {
    // Two single checkpoints, or one JTDMoE checkpoint (its own alpha unless --alpha is given).
    const bool own_alpha = dual_paths.empty() && vm["alpha"].defaulted();
    model = load_dual_model(dual_paths.empty() ? std::vector<std::string>{checkpoint} : dual_paths,
                            own_alpha ? -1 : alpha, batch, variables);
  } else {
    try {
      model = build_model(mc);
    } catch (const Error& e) {
      // Every attribute passed its own check, but together they describe no buildable model.
      ADVMOE_FAIL("'" << checkpoint << "': its attributes (arch, variant, ratio, experts, routing, "
                      << "normalize, input_shape) describe no buildable model: " << e.what());
    }
    load_checkpoint_tensors(checkpoint, model, variables, /*with_optimizer=*/false);
  }
  std::vector<std::string> routes = mark_route_outputs(model);
  std::vector<LayerUsage> usage = empty_usage(model);
  CompileOptions options{Mode::Eval, {model.logits.id}};
  for (const std::string& route : routes) options.targets.push_back(model.graph->find(route));
  auto plan = compile(*model.graph, variables, options);
  auto start = std::chrono::steady_clock::now();
  EvalResult r = evaluate_classifier(*plan, variables, test, nullptr, &usage, routes);
  std::printf(
      "%s (%s %s, epoch %lld) on %s: clean accuracy (SA) %.2f%%, loss %.4f, %lld images, "
      "%.0f img/s\n",
      described.c_str(), mc.arch.c_str(), mc.variant.c_str(),
      static_cast<long long>(header.state.epoch), test.name.c_str(), 100 * r.accuracy, r.loss,
      static_cast<long long>(r.examples), r.examples / seconds_since(start));
  print_usage_summary("clean test", usage);
  if (attack.attack == "none") return 0;
  if (autoattack) {
    EvaluationCascade evaluation(model, variables, cascade);
    std::printf(
        "AutoAttack (%s): %s on the %lld test images, eps %.4g %s\n", cascade.version.c_str(),
        [&] {
          std::string list;
          for (const std::string& n : evaluation.stage_names())
            list += (list.empty() ? "" : " -> ") + n;
          return list;
        }()
            .c_str(),
        static_cast<long long>(test.size()), cascade.epsilon,
        cascade.norm == PgdNorm::L2 ? "L2" : "L-inf");
    CascadeRunOptions run;
    run.state_path = state_path;
    run.keep_images = !adversarial_path.empty();
    run.max_batches = max_batches;
    start = std::chrono::steady_clock::now();
    CascadeResult result = evaluation.run(test, run);
    print_cascade(result, cascade);
    const double seconds = seconds_since(start);
    std::printf("%.1fs, %.1f img/s over the whole test set\n", seconds, test.size() / seconds);
    if (!json_path.empty())
      write_text_atomically(
          json_path,
          cascade_json(
              result, cascade,
              component == "model" ? described : described + " (--component " + component + ")"));
    if (!adversarial_path.empty() && result.finished)
      save_adversarial(adversarial_path, result, test, cascade);
    return 0;
  }

  PgdAttack pgd_attack(model, variables, pgd);
  start = std::chrono::steady_clock::now();
  EvalResult robust = evaluate_classifier(*plan, variables, test, &pgd_attack, &usage, routes);
  const char* metric = component == "experts"  ? "RA-E (experts attacked, clean routes)"
                       : component == "router" ? "RA-R (routers attacked, clean experts)"
                                               : "robust accuracy (RA)";
  std::printf("%s: %s %.2f%%, loss %.4f, %lld images, %.1f img/s\n", describe(pgd).c_str(), metric,
              100 * robust.accuracy, robust.loss, static_cast<long long>(robust.examples),
              robust.examples / seconds_since(start));
  print_usage_summary("adversarial test", usage);
  if (!json_path.empty()) {
    std::ostringstream j;
    j.precision(17);
    j << "{\"checkpoint\": \"" << described << "\", \"component\": \"" << component
      << "\", \"dataset\": \"" << test.name << "\", \"test_images\": " << test.size()
      << ", \"clean_accuracy\": " << r.accuracy << ", \"robust_accuracy\": " << robust.accuracy
      << ", \"attack\": \"" << describe(pgd) << "\", \"busiest_adversarial\": [";
    const std::vector<double> shares = busiest_shares(usage);
    for (size_t i = 0; i < shares.size(); ++i) j << (i ? ", " : "") << shares[i];
    j << "]}\n";
    write_text_atomically(json_path, j.str());
  }
  return 0;
}

}  // namespace advmoe
