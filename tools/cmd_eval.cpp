// advmoe eval: clean accuracy (SA) of a checkpoint on a dataset's test split and, unless
// --attack none, robust accuracy (RA) under PGD / FGSM, with MoE expert usage on both.
#include <chrono>
#include <cstdio>

#include "datasets/registry.h"
#include "models/registry.h"
#include "tools/attack_options.h"
#include "tools/device_options.h"
#include "training/checkpoint.h"
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
  po::options_description o("eval options");
  auto add = o.add_options();
  add("checkpoint", po::value(&checkpoint)->required(), "checkpoint file (.h5)");
  add("dataset", po::value(&dataset)->default_value(""), "dataset (default: the checkpoint's)");
  add("data-dir", po::value(&data_dir)->default_value(""), "dataset folder");
  add("batch-size", po::value(&batch)->default_value(256), "batch size");
  add("test-limit", po::value(&test_limit)->default_value(0), "use the first N test images");
  add("threads", po::value(&threads)->default_value(0), "CPU threads (0: all cores)");
  add("seed", po::value(&seed)->default_value(0), "seed of the attack's random starts");
  add_attack_options(o, attack);
  add_device_options(o, device);
  po::variables_map vm;
  if (!parse_command("eval", "Evaluate a checkpoint on a test set, clean and under attack.", o,
                     args, vm))
    return 0;
  require(batch >= 1 && batch <= 65536, "eval",
          "--batch-size must be in [1, 65536], got " + std::to_string(batch));
  require(test_limit >= 0, "eval", "--test-limit must be >= 0, got " + std::to_string(test_limit));
  require(seed <= (uint64_t{1} << 53), "eval",
          "--seed must be in [0, 2^53], got " + std::to_string(seed));
  PgdConfig pgd = pgd_config_of(attack, seed);  // validated even when --attack none
  set_threads(threads);

  CheckpointHeader header = read_checkpoint_header(checkpoint);
  if (dataset.empty()) dataset = header.state.dataset;
  Dataset test = load_dataset(dataset, data_dir, "test", test_limit);
  ADVMOE_CHECK(test.size() > 0, "dataset " << test.name << " has no test images");
  ADVMOE_CHECK(test.image_shape() == header.model.image && test.num_classes == header.model.classes,
               "dataset " << dataset << " has images " << test.image_shape() << " and "
                          << test.num_classes << " classes; the checkpoint's model expects "
                          << header.model.image << " and " << header.model.classes);
  ModelConfig mc = header.model;
  mc.batch = batch;
  Model model;
  try {
    model = build_model(mc);
  } catch (const Error& e) {
    // Every attribute passed its own check, but together they describe no buildable model.
    ADVMOE_FAIL("'" << checkpoint << "': its attributes (arch, variant, ratio, experts, routing, "
                    << "normalize, input_shape) describe no buildable model: " << e.what());
  }
  auto backend = make_backend(device);
  Variables variables(*backend);
  load_checkpoint_tensors(checkpoint, model, variables, /*with_optimizer=*/false);
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
      checkpoint.c_str(), mc.arch.c_str(), mc.variant.c_str(),
      static_cast<long long>(header.state.epoch), test.name.c_str(), 100 * r.accuracy, r.loss,
      static_cast<long long>(r.examples), r.examples / seconds_since(start));
  print_usage_summary("clean test", usage);
  if (attack.attack == "none") return 0;

  PgdAttack pgd_attack(model, variables, pgd);
  start = std::chrono::steady_clock::now();
  EvalResult robust = evaluate_classifier(*plan, variables, test, &pgd_attack, &usage, routes);
  std::printf("%s: robust accuracy (RA) %.2f%%, loss %.4f, %lld images, %.1f img/s\n",
              describe(pgd).c_str(), 100 * robust.accuracy, robust.loss,
              static_cast<long long>(robust.examples), robust.examples / seconds_since(start));
  print_usage_summary("adversarial test", usage);
  return 0;
}

}  // namespace advmoe
