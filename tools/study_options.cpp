// Options and loading shared by advmoe dissect and advmoe iou.
#include "tools/study_options.h"

#include <sstream>

#include "datasets/registry.h"
#include "models/registry.h"
#include "tools/options.h"

namespace advmoe {

void add_study_options(po::options_description& o, StudyOptions& s) {
  auto add = o.add_options();
  add("checkpoint", po::value(&s.checkpoint)->required(), "an MoE checkpoint (.h5)");
  add("dataset", po::value(&s.dataset)->default_value(""), "dataset (default: the checkpoint's)");
  add("data-dir", po::value(&s.data_dir)->default_value(""), "dataset folder");
  add("batch-size", po::value(&s.batch)->default_value(250), "batch size");
  add("test-limit", po::value(&s.test_limit)->default_value(0), "use the first N test images");
  add("threads", po::value(&s.threads)->default_value(0), "CPU threads (0: all cores)");
  add("seed", po::value(&s.seed)->default_value(0), "seed of the attack's random starts");
  add("csv", po::value(&s.csv)->default_value(""), "write one row per test point to this CSV file");
  add("json", po::value(&s.json)->default_value(""), "write the summary to this JSON file");
  add("apgd-iterations", po::value(&s.apgd_iterations)->default_value(100),
      "--attack apgd-*: iterations");
  add("square-queries", po::value(&s.square_queries)->default_value(5000),
      "--attack square: queries");
  add_attack_options(o, s.attack);
  add_device_options(o, s.device);
}

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

}  // namespace advmoe
