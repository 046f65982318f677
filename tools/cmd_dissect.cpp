// advmoe dissect and advmoe iou (docs/dissection.md): the AdvMoE paper's router/pathway analyses
// of an MoE checkpoint under an attack. dissect: the four categories per sample and per layer,
// router and predictor robustness, and the pathway-only and router-only attacks; iou: the pathway
// IoU between clean and adversarial inputs and with a Sparse-CNN's static mask.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "datasets/registry.h"
#include "models/registry.h"
#include "models/sparse_model.h"
#include "tools/attack_options.h"
#include "tools/device_options.h"
#include "tools/options.h"
#include "training/checkpoint.h"
#include "training/route_study.h"
#include "training/run_files.h"

namespace advmoe {

namespace {

struct StudyOptions {
  std::string checkpoint, dataset, data_dir, csv, json;
  DeviceOptions device;
  int batch = 250, threads = 0, apgd_iterations = 100, square_queries = 5000;
  int64_t test_limit = 0;
  uint64_t seed = 0;
  AttackOptions attack;
};

void add_study_options(po::options_description& o, StudyOptions& s) {
  auto add = o.add_options();
  add("checkpoint", po::value(&s.checkpoint)->required(), "an MoE checkpoint (.h5)");
  add("dataset", po::value(&s.dataset)->default_value(""), "dataset (default: the checkpoint's)");
  add("data-dir", po::value(&s.data_dir)->default_value(""), "dataset folder");
  add("batch-size", po::value(&s.batch)->default_value(250), "batch size");
  add("test-limit", po::value(&s.test_limit)->default_value(0), "use the first N test images");
  add("threads", po::value(&s.threads)->default_value(0), "CPU threads (0: all cores)");
  add("seed", po::value(&s.seed)->default_value(0), "seed of the attack's random starts");
  add("csv", po::value(&s.csv)->default_value(""), "write one row per test point to this file");
  add("json", po::value(&s.json)->default_value(""), "write the summary to this JSON file");
  add("apgd-iterations", po::value(&s.apgd_iterations)->default_value(100),
      "--attack apgd-*: iterations");
  add("square-queries", po::value(&s.square_queries)->default_value(5000),
      "--attack square: queries");
  add_attack_options(o, s.attack);
  add_device_options(o, s.device);
}

// An MoE checkpoint loaded for a study, with its test set.
struct Loaded {
  CheckpointHeader header;
  Model model;
  std::shared_ptr<Backend> backend;
  std::unique_ptr<Variables> variables;
  Dataset test;
  StudyAttack attack;
};

Loaded load_study(const std::string& command, StudyOptions& s) {
  require(s.batch >= 1 && s.batch <= 65536, command,
          "--batch-size must be in [1, 65536], got " + std::to_string(s.batch));
  require(s.test_limit >= 0, command, "--test-limit must be >= 0");
  require(is_study_attack(s.attack.attack), command,
          "--attack must be pgd, fgsm, apgd-ce, apgd-dlr, apgd-t, fab-t or square, got '" +
              s.attack.attack +
              "' (the cascade aa keeps clean images where it fails, which "
              "hides route changes: use its attacks one by one)");
  Loaded l;
  l.attack.name = s.attack.attack;
  AttackOptions checked = s.attack;
  if (!(checked.attack == "pgd" || checked.attack == "fgsm")) checked.attack = "pgd";
  l.attack.pgd = pgd_config_of(checked, s.seed);
  l.attack.budget.epsilon = l.attack.pgd.epsilon;
  l.attack.budget.norm = l.attack.pgd.norm;
  l.attack.budget.seed = s.seed;
  l.attack.budget.apgd_iterations = s.apgd_iterations;
  l.attack.budget.square_queries = s.square_queries;
  set_threads(s.threads);
  l.header = read_checkpoint_header(s.checkpoint);
  require(l.header.model.variant == "moe", command,
          "'" + s.checkpoint + "' holds a " + l.header.model.variant + " model; " + command +
              " studies the routes of an MoE checkpoint");
  std::string dataset = s.dataset.empty() ? l.header.state.dataset : s.dataset;
  l.test = load_dataset(dataset, s.data_dir, "test", s.test_limit);
  ADVMOE_CHECK(l.test.size() > 0, "dataset " << l.test.name << " has no test images");
  ADVMOE_CHECK(
      l.test.image_shape() == l.header.model.image && l.test.num_classes == l.header.model.classes,
      "dataset " << dataset << " does not match the checkpoint's input or classes");
  ModelConfig mc = l.header.model;
  mc.batch = s.batch;
  l.model = build_model(mc);
  l.backend = make_backend(s.device);
  l.variables = std::make_unique<Variables>(*l.backend);
  load_checkpoint_tensors(s.checkpoint, l.model, *l.variables, /*with_optimizer=*/false);
  return l;
}

std::string json_counts(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str() + "]";
}

std::vector<std::string> layer_names(const Model& m) {
  std::vector<std::string> out;
  for (const auto& [module, value] : m.routes) out.push_back(module);
  return out;
}

}  // namespace

int cmd_dissect(const std::vector<std::string>& args) {
  StudyOptions s;
  bool partial = true;
  po::options_description o("dissect options");
  add_study_options(o, s);
  o.add_options()("partial-attacks", po::value(&partial)->default_value(true),
                  "also run the pathway-only and router-only PGD attacks");
  po::variables_map vm;
  if (!parse_command("dissect",
                     "Dissect an MoE's robustness into its routers and its pathways (the AdvMoE "
                     "paper's four categories).",
                     o, args, vm))
    return 0;
  Loaded l = load_study("dissect", s);
  std::vector<SampleRoutes> samples = study_routes(l.model, *l.variables, l.test, l.attack);
  std::vector<std::string> layers = layer_names(l.model);
  DissectionCounts c = dissect(samples, static_cast<int64_t>(layers.size()));
  int64_t clean_correct = 0;
  for (const SampleRoutes& r : samples) clean_correct += r.clean_prediction == r.label;
  const char* names[4] = {"(1) neither fooled", "(2) routers fooled, prediction not",
                          "(3) prediction fooled, routers not", "(4) both fooled"};
  std::printf("%s on %s, %lld test points, attack %s\n", s.checkpoint.c_str(), l.test.name.c_str(),
              static_cast<long long>(c.samples), describe(l.attack).c_str());
  for (int k = 0; k < 4; ++k)
    std::printf("  %-36s %6lld  %6.2f%%\n", names[k], static_cast<long long>(c.category[k]),
                100 * c.fraction(k));
  std::printf(
      "  router robustness (1)+(3) %.2f%%, predictor robustness (1)+(2) = RA %.2f%%, SA "
      "%.2f%%\n",
      100 * c.router_robustness(), 100 * c.predictor_robustness(),
      100.0 * clean_correct / c.samples);
  for (size_t i = 0; i < layers.size(); ++i)
    std::printf("  layer %-12s expert changed on %6.2f%% of the points\n", layers[i].c_str(),
                100.0 * c.layer_changed[i] / c.samples);
  double pathway_ra = -1, router_ra = -1;
  if (partial) {
    pathway_ra = partial_attack_accuracy(l.model.config, *l.variables, l.test, samples,
                                         l.attack.pgd, "pathway");
    router_ra = partial_attack_accuracy(l.model.config, *l.variables, l.test, samples, l.attack.pgd,
                                        "router");
    std::printf("  pathway-only attack (routes held at the clean routes; %s): RA %.2f%%\n",
                describe(l.attack.pgd).c_str(), 100 * pathway_ra);
    std::printf("  router-only attack (routers see x_adv, experts x; STE; %s): RA %.2f%%\n",
                describe(l.attack.pgd).c_str(), 100 * router_ra);
  }
  if (!s.csv.empty()) {
    std::ofstream f(s.csv);
    f << "index,label,clean_prediction,adversarial_prediction,category";
    for (const std::string& n : layers) f << ",clean_route:" << n << ",adversarial_route:" << n;
    f << "\n";
    for (size_t i = 0; i < samples.size(); ++i) {
      const SampleRoutes& r = samples[i];
      f << i << "," << r.label << "," << r.clean_prediction << "," << r.adversarial_prediction
        << "," << dissection_category(r);
      for (size_t k = 0; k < layers.size(); ++k)
        f << "," << r.clean_routes[k] << "," << r.adversarial_routes[k];
      f << "\n";
    }
    ADVMOE_CHECK(f.good(), "cannot write '" << s.csv << "'");
  }
  if (!s.json.empty()) {
    std::ostringstream j;
    j.precision(17);
    j << "{\"checkpoint\": \"" << s.checkpoint << "\", \"dataset\": \"" << l.test.name
      << "\", \"attack\": \"" << describe(l.attack) << "\", \"samples\": " << c.samples
      << ", \"clean_accuracy\": " << static_cast<double>(clean_correct) / c.samples
      << ", \"categories\": "
      << json_counts({c.category[0], c.category[1], c.category[2], c.category[3]})
      << ", \"fractions\": [" << c.fraction(0) << ", " << c.fraction(1) << ", " << c.fraction(2)
      << ", " << c.fraction(3) << "], \"router_robustness\": " << c.router_robustness()
      << ", \"predictor_robustness\": " << c.predictor_robustness() << ", \"layers\": [";
    for (size_t i = 0; i < layers.size(); ++i) j << (i ? ", " : "") << "\"" << layers[i] << "\"";
    j << "], \"layer_changed\": " << json_counts(c.layer_changed);
    if (partial)
      j << ", \"pathway_only_robust_accuracy\": " << pathway_ra
        << ", \"router_only_robust_accuracy\": " << router_ra;
    j << "}\n";
    write_text_atomically(s.json, j.str());
  }
  return 0;
}

int cmd_iou(const std::vector<std::string>& args) {
  StudyOptions s;
  std::string mask_checkpoint;
  po::options_description o("iou options");
  add_study_options(o, s);
  o.add_options()("mask", po::value(&mask_checkpoint)->default_value(""),
                  "a Sparse-CNN checkpoint of the same architecture: IoU of each pathway with its "
                  "static mask");
  po::variables_map vm;
  if (!parse_command("iou", "Pathway IoU of an MoE: clean vs adversarial, and with a sparse mask.",
                     o, args, vm))
    return 0;
  Loaded l = load_study("iou", s);
  const ModelConfig& mc = l.model.config;
  // Each MoE layer's expert width: expert_conv's output channels.
  std::vector<int64_t> width;
  for (const Node& n : l.model.graph->nodes())
    if (n.op == Op::ExpertConv) width.push_back(l.model.graph->value(n.outputs[0]).shape[3]);
  std::vector<std::string> layers = layer_names(l.model);
  ADVMOE_CHECK(width.size() == layers.size(),
               "iou: " << width.size() << " expert convs for " << layers.size() << " routes");
  std::vector<LayerChannels> mask;  // per MoE layer: the Sparse-CNN's kept filters
  if (!mask_checkpoint.empty()) {
    CheckpointHeader h = read_checkpoint_header(mask_checkpoint);
    require(h.model.variant == "sparse", "iou",
            "--mask '" + mask_checkpoint + "' holds a " + h.model.variant +
                " model, not a Sparse-CNN (--variant sparse)");
    require(h.model.arch == mc.arch && h.model.image == mc.image && h.model.classes == mc.classes,
            "iou",
            "--mask '" + mask_checkpoint + "' is a " + h.model.arch +
                " for another input or class count than the MoE's " + mc.arch);
    ModelConfig sc = h.model;
    sc.batch = 1;
    Model sparse = build_model(sc);
    auto backend = make_backend("reference");
    Variables v(*backend);
    load_checkpoint_tensors(mask_checkpoint, sparse, v, /*with_optimizer=*/false);
    std::map<std::string, Tensor> scores;
    for (const Model::MaskedLayer& m : sparse.masked)
      scores[m.scores.info().name] = v.get(m.scores.info().name);
    std::map<std::string, HostMask> masks = host_masks(sparse, scores);
    for (size_t i = 0; i < layers.size(); ++i) {
      auto it = masks.find(layers[i]);
      require(it != masks.end(), "iou", "--mask has no mask for the MoE layer " + layers[i]);
      const Tensor& fm = it->second.filter_mask;
      require(fm.numel() == width[i] * mc.experts, "iou",
              "layer " + layers[i] + ": the mask has " + std::to_string(fm.numel()) +
                  " filters but the MoE's " + std::to_string(mc.experts) + " experts of " +
                  std::to_string(width[i]) + " channels make " +
                  std::to_string(width[i] * mc.experts) +
                  " (IoU needs N * r = 1: experts that split the dense layer's filters)");
      LayerChannels kept;
      for (int64_t f = 0; f < fm.numel(); ++f)
        if (fm.data<float>()[f] != 0) kept.push_back(f);
      mask.push_back(kept);
    }
  }
  std::vector<SampleRoutes> samples = study_routes(l.model, *l.variables, l.test, l.attack);
  auto pathway = [&](const std::vector<int32_t>& routes) {
    std::vector<LayerChannels> p;
    for (size_t i = 0; i < routes.size(); ++i) p.push_back(expert_channels(routes[i], width[i]));
    return p;
  };
  std::vector<double> clean_adv, clean_mask, adv_mask;
  for (const SampleRoutes& r : samples) {
    clean_adv.push_back(pathway_iou(pathway(r.clean_routes), pathway(r.adversarial_routes)));
    if (mask.empty()) continue;
    clean_mask.push_back(pathway_iou(pathway(r.clean_routes), mask));
    adv_mask.push_back(pathway_iou(pathway(r.adversarial_routes), mask));
  }
  std::printf("%s on %s, %lld test points, attack %s\n", s.checkpoint.c_str(), l.test.name.c_str(),
              static_cast<long long>(samples.size()), describe(l.attack).c_str());
  std::ostringstream j;
  j.precision(17);
  j << "{\"checkpoint\": \"" << s.checkpoint << "\", \"mask\": \"" << mask_checkpoint
    << "\", \"attack\": \"" << describe(l.attack) << "\", \"samples\": " << samples.size()
    << ", \"bins\": 20";
  auto report = [&](const char* key, const char* what, const std::vector<double>& v) {
    if (v.empty()) return;
    Summary sm = summarize(v);
    std::printf("  IoU %-34s mean %.4f  median %.4f  at 1: %.2f%%\n", what, sm.mean, sm.median,
                100 * sm.at_one);
    j << ", \"" << key << "\": {\"mean\": " << sm.mean << ", \"median\": " << sm.median
      << ", \"at_one\": " << sm.at_one << ", \"histogram\": " << json_counts(sm.histogram)
      << ", \"values\": [";
    for (size_t i = 0; i < v.size(); ++i) j << (i ? ", " : "") << v[i];
    j << "]}";
  };
  report("clean_vs_adversarial", "clean vs adversarial pathway", clean_adv);
  report("clean_vs_mask", "clean pathway vs sparse mask", clean_mask);
  report("adversarial_vs_mask", "adversarial pathway vs sparse mask", adv_mask);
  j << "}\n";
  if (!s.json.empty()) write_text_atomically(s.json, j.str());
  return 0;
}

}  // namespace advmoe
