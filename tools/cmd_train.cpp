// advmoe train: standard training of a model on a dataset, then clean test accuracy.
#include <cstdio>
#include <iostream>

#include "datasets/registry.h"
#include "models/registry.h"
#include "ops/backends.h"
#include "tools/options.h"
#include "training/classifier_trainer.h"

namespace advmoe {

int cmd_train(const std::vector<std::string>& args) {
  std::string dataset, data_dir, arch, device;
  int epochs, batch, threads;
  double lr, momentum, weight_decay, width;
  uint64_t seed;
  int64_t train_limit, test_limit;
  po::options_description o("train options");
  o.add_options()("dataset", po::value(&dataset)->default_value("fashion-mnist"),
                  "fashion-mnist | mnist")(
      "data-dir", po::value(&data_dir)->default_value(""),
      "dataset folder (default: the dataset's Debian location)")(
      "arch", po::value(&arch)->default_value("smallcnn"), "architecture")(
      "width", po::value(&width)->default_value(1.0), "channel width multiplier")(
      "epochs", po::value(&epochs)->default_value(1), "training epochs")(
      "batch-size", po::value(&batch)->default_value(128), "batch size")(
      "lr", po::value(&lr)->default_value(0.05), "peak learning rate (cosine schedule)")(
      "momentum", po::value(&momentum)->default_value(0.9), "SGD momentum")(
      "weight-decay", po::value(&weight_decay)->default_value(5e-4), "SGD weight decay")(
      "seed", po::value(&seed)->default_value(0), "seed of initialization and data order")(
      "train-limit", po::value(&train_limit)->default_value(0),
      "use only the first N training images")(
      "test-limit", po::value(&test_limit)->default_value(0), "use only the first N test images")(
      "threads", po::value(&threads)->default_value(0), "CPU threads (0: all cores)")(
      "device", po::value(&device)->default_value("cpu"), "cpu | reference | cuda");
  po::variables_map vm;
  if (!parse_command("train", "Train a classifier and report its test accuracy.", o, args, vm))
    return 0;
  if (epochs < 1) throw UsageError{"advmoe train: --epochs must be at least 1"};
  if (batch < 1) throw UsageError{"advmoe train: --batch-size must be at least 1"};
  if (!(lr > 0)) throw UsageError{"advmoe train: --lr must be positive"};
  set_threads(threads);

  Dataset train = load_dataset(dataset, data_dir, "train", train_limit);
  Dataset test = load_dataset(dataset, data_dir, "test", test_limit);
  std::printf("data: %s %lld images, %s %lld images, image %s, %d classes\n", train.name.c_str(),
              static_cast<long long>(train.size()), test.name.c_str(),
              static_cast<long long>(test.size()), train.image_shape().str().c_str(),
              train.num_classes);

  ModelConfig mc{arch, batch, train.image_shape(), train.num_classes, width, DType::F32};
  Model model = build_model(mc);
  auto backend = make_backend(device);
  TrainConfig tc;
  tc.epochs = epochs;
  tc.lr = lr;
  tc.sgd = {momentum, weight_decay, false};
  tc.seed = seed;
  ClassifierTrainer trainer(model, *backend, tc);
  int64_t steps = train.size() / batch;
  trainer.set_total_steps(steps * epochs);
  std::printf("model: %s width %.3g, %lld parameters; backend %s; plan peak %.1f MiB\n",
              arch.c_str(), width, static_cast<long long>(model.num_parameters()),
              backend->name().c_str(), trainer.train_plan().memory().arena_bytes / 1048576.0);

  for (int epoch = 1; epoch <= epochs; ++epoch) {
    Progress progress("train", steps);
    EpochMetrics m = trainer.train_epoch(train, epoch, &progress);
    progress.finish();
    EvalResult test_result = trainer.evaluate(test);
    std::printf(
        "epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %.1fs, %.0f img/s\n",
        epoch, epochs, m.train_loss, 100 * m.train_accuracy, test_result.loss,
        100 * test_result.accuracy, m.seconds, m.images_per_second);
    std::fflush(stdout);
  }
  EvalResult final_result = trainer.evaluate(test);
  std::printf("final test accuracy: %.2f%% on %lld images\n", 100 * final_result.accuracy,
              static_cast<long long>(final_result.examples));
  return 0;
}

}  // namespace advmoe
