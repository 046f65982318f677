// advmoe iou (docs/dissection.md): the pathway IoU of an MoE checkpoint between clean and
// adversarial inputs, and with a Sparse-CNN's static mask (the AdvMoE paper's Fig. 6).
#include <cstdio>
#include <map>
#include <sstream>

#include "backends/backends.h"
#include "models/registry.h"
#include "models/sparse_model.h"
#include "tools/options.h"
#include "tools/study_options.h"
#include "training/run_files.h"

namespace advmoe {

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
  if (!s.csv.empty()) {
    std::ostringstream c;
    c.precision(17);
    c << "index,clean_vs_adversarial" << (mask.empty() ? "" : ",clean_vs_mask,adversarial_vs_mask")
      << "\n";
    for (size_t i = 0; i < clean_adv.size(); ++i) {
      c << i << "," << clean_adv[i];
      if (!mask.empty()) c << "," << clean_mask[i] << "," << adv_mask[i];
      c << "\n";
    }
    write_text_atomically(s.csv, c.str());
  }
  return 0;
}

}  // namespace advmoe
