// advmoe sweep-alpha: the dual model's clean / robust accuracy trade-off over its smoothing
// parameter alpha (F = (1 - alpha) F_std + alpha F_rob, docs/dual.md), every point attacked end
// to end through the combination; a table on the console, JSON for tools, and the figure.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "datasets/registry.h"
#include "models/dual_model.h"
#include "runtime/files.h"
#include "tools/attack_options.h"
#include "tools/device_options.h"
#include "training/checkpoint.h"
#include "training/dual_checkpoint.h"
#include "training/evaluate.h"
#include "training/run_files.h"

namespace advmoe {

namespace {

// "0,0.25,1" -> {0, 0.25, 1}; each in [0, 1].
std::vector<double> parse_alphas(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(parse_fraction_in("--alphas", item, 0, 1));
  require(!out.empty(), "sweep-alpha", "--alphas lists no value");
  return out;
}

struct Point {
  double alpha = 0, clean = 0, robust = 0;
};

std::string sweep_json(const std::vector<std::string>& dual, const std::string& dataset,
                       int64_t images, const PgdConfig& pgd, const std::vector<Point>& points) {
  std::ostringstream j;
  j.precision(17);
  j << "{\"alpha_sweep\": true, \"standard\": \"" << dual[0] << "\", \"robust\": \"" << dual.back()
    << "\", \"dataset\": \"" << dataset << "\", \"test_images\": " << images << ", \"attack\": \""
    << describe(pgd) << "\", \"points\": [";
  for (size_t i = 0; i < points.size(); ++i)
    j << (i ? ", " : "") << "{\"alpha\": " << points[i].alpha
      << ", \"clean_accuracy\": " << points[i].clean
      << ", \"robust_accuracy\": " << points[i].robust << "}";
  j << "]}\n";
  return j.str();
}

}  // namespace

int cmd_sweep_alpha(const std::vector<std::string>& args) {
  std::vector<std::string> dual;
  std::string alphas_text = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1", data_dir, json_path,
              plot_dir;
  DeviceOptions device;
  int batch = 256, threads = 0;
  int64_t test_limit = 0;
  uint64_t seed = 0;
  AttackOptions attack;
  po::options_description o("sweep-alpha options");
  auto add = o.add_options();
  add("dual", po::value(&dual)->multitoken()->required(),
      "STD.h5 ROB.h5: the standard and the robust model's checkpoints, or one JTDMoE checkpoint "
      "holding both");
  add("alphas", po::value(&alphas_text)->default_value(alphas_text),
      "comma-separated alphas in [0, 1] (the robust model's share)");
  add("data-dir", po::value(&data_dir)->default_value(""), "dataset folder");
  add("batch-size", po::value(&batch)->default_value(256), "batch size");
  add("test-limit", po::value(&test_limit)->default_value(0), "use the first N test images");
  add("threads", po::value(&threads)->default_value(0), "CPU threads (0: all cores)");
  add("seed", po::value(&seed)->default_value(0), "seed of the attack's random starts");
  add_attack_options(o, attack);
  add("json", po::value(&json_path)->default_value(""), "write the sweep as JSON");
  add("plot", po::value(&plot_dir)->default_value(""),
      "draw the trade-off (advmoe plot) into this folder (the JSON goes there too unless --json)");
  add_device_options(o, device);
  po::variables_map vm;
  if (!parse_command("sweep-alpha",
                     "The dual model's SA / RA over alpha: F = (1 - alpha) F_std + alpha F_rob.", o,
                     args, vm))
    return 0;
  require(dual.size() == 1 || dual.size() == 2, "sweep-alpha",
          "--dual takes two checkpoints (standard, robust) or one JTDMoE checkpoint, got " +
              std::to_string(dual.size()));
  require(batch >= 1 && batch <= 65536, "sweep-alpha",
          "--batch-size must be in [1, 65536], got " + std::to_string(batch));
  require(test_limit >= 0, "sweep-alpha",
          "--test-limit must be >= 0, got " + std::to_string(test_limit));
  require(attack.attack == "pgd" || attack.attack == "fgsm", "sweep-alpha",
          "--attack must be pgd or fgsm (the AutoAttack cascade of one point: advmoe eval --dual "
          "STD ROB --alpha A --attack aa), got '" +
              attack.attack + "'");
  const std::vector<double> alphas = parse_alphas(alphas_text);
  PgdConfig pgd = pgd_config_of(attack, seed);
  set_threads(threads);
  CheckpointHeader header = read_checkpoint_header(dual[0]);
  Dataset test = load_dataset(header.state.dataset, data_dir, "test", test_limit);
  ADVMOE_CHECK(test.size() > 0, "dataset " << test.name << " has no test images");
  ADVMOE_CHECK(test.image_shape() == header.model.image && test.num_classes == header.model.classes,
               "dataset " << test.name << " does not match '" << dual[0] << "'");
  auto backend = make_backend(device);
  std::printf("dual model (1 - alpha) * %s + alpha * %s on %s (%lld images), %s\n", dual[0].c_str(),
              dual.back().c_str(), test.name.c_str(), static_cast<long long>(test.size()),
              describe(pgd).c_str());
  std::printf("%8s %10s %10s %8s\n", "alpha", "SA (%)", "RA (%)", "seconds");
  std::vector<Point> points;
  for (double alpha : alphas) {
    const auto start = std::chrono::steady_clock::now();
    Variables variables(*backend);
    Model model = load_dual_model(dual, alpha, batch, variables);
    auto plan = compile(*model.graph, variables, CompileOptions{Mode::Eval, {model.logits.id}, {}});
    Point p;
    p.alpha = alpha;
    p.clean = evaluate_classifier(*plan, variables, test).accuracy;
    PgdAttack pgd_attack(model, variables, pgd);
    p.robust = evaluate_classifier(*plan, variables, test, &pgd_attack).accuracy;
    points.push_back(p);
    std::printf("%8.3g %10.2f %10.2f %8.1f\n", alpha, 100 * p.clean, 100 * p.robust,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::fflush(stdout);
  }
  if (json_path.empty() && !plot_dir.empty()) {
    std::filesystem::create_directories(plot_dir);
    json_path = plot_dir + "/alpha_sweep.json";
  }
  if (!json_path.empty())
    write_text_atomically(json_path, sweep_json(dual, test.name, test.size(), pgd, points));
  if (!plot_dir.empty()) return cmd_plot({json_path, "--out", plot_dir});
  return 0;
}

}  // namespace advmoe
