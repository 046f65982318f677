// advmoe eval: clean accuracy of a checkpoint on a dataset's test split (attacks: issue 5).
#include <cstdio>

#include "datasets/registry.h"
#include "models/registry.h"
#include "ops/backends.h"
#include "tools/options.h"
#include "training/checkpoint.h"
#include "training/evaluate.h"

namespace advmoe {

int cmd_eval(const std::vector<std::string>& args) {
  std::string checkpoint, dataset, data_dir, device;
  int batch = 256, threads = 0;
  int64_t test_limit = 0;
  po::options_description o("eval options");
  auto add = o.add_options();
  add("checkpoint", po::value(&checkpoint)->required(), "checkpoint file (.h5)");
  add("dataset", po::value(&dataset)->default_value(""), "dataset (default: the checkpoint's)");
  add("data-dir", po::value(&data_dir)->default_value(""), "dataset folder");
  add("batch-size", po::value(&batch)->default_value(256), "batch size");
  add("test-limit", po::value(&test_limit)->default_value(0), "use the first N test images");
  add("threads", po::value(&threads)->default_value(0), "CPU threads (0: all cores)");
  add("device", po::value(&device)->default_value("cpu"), "cpu | reference | cuda");
  po::variables_map vm;
  if (!parse_command("eval", "Evaluate a checkpoint on a test set.", o, args, vm)) return 0;
  if (batch < 1) throw UsageError{"advmoe eval: --batch-size must be at least 1"};
  set_threads(threads);

  CheckpointHeader header = read_checkpoint_header(checkpoint);
  if (dataset.empty()) dataset = header.state.dataset;
  Dataset test = load_dataset(dataset, data_dir, "test", test_limit);
  ADVMOE_CHECK(test.image_shape() == header.model.image && test.num_classes == header.model.classes,
               "dataset " << dataset << " has images " << test.image_shape() << " and "
                          << test.num_classes << " classes; the checkpoint's model expects "
                          << header.model.image << " and " << header.model.classes);
  ModelConfig mc = header.model;
  mc.batch = batch;
  Model model = build_model(mc);
  auto backend = make_backend(device);
  Variables variables(*backend);
  load_checkpoint_tensors(checkpoint, model, variables, /*with_optimizer=*/false);
  auto plan = compile(*model.graph, variables, {Mode::Eval, {model.logits.id}});
  EvalResult r = evaluate_classifier(*plan, variables, test);
  std::printf("%s (%s, epoch %lld) on %s: clean accuracy (SA) %.2f%%, loss %.4f, %lld images\n",
              checkpoint.c_str(), mc.arch.c_str(), static_cast<long long>(header.state.epoch),
              test.name.c_str(), 100 * r.accuracy, r.loss, static_cast<long long>(r.examples));
  return 0;
}

}  // namespace advmoe
