// advmoe dissect (docs/dissection.md): the AdvMoE paper's router/pathway dissection of an MoE
// checkpoint under an attack: the four categories per sample and per layer, router and predictor
// robustness, and the pathway-only and router-only attacks.
#include <cstdio>
#include <sstream>

#include "tools/options.h"
#include "tools/study_options.h"
#include "training/run_files.h"

namespace advmoe {

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
    std::ostringstream f;
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
    write_text_atomically(s.csv, f.str());
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

}  // namespace advmoe
