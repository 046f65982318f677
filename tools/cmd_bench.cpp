// advmoe bench: images/s of a training step (forward + backward + SGD) and of inference, and the
// plans' memory, on synthetic inputs of the requested shape.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "models/registry.h"
#include "ops/backends.h"
#include "ops/op_registry.h"
#include "runtime/rng.h"
#include "tools/options.h"
#include "training/classifier_trainer.h"

namespace advmoe {

namespace {

double time_runs(Plan& plan, Backend& backend, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) plan.run();
  backend.synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) plan.run();
  backend.synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
}

void print_profile(Plan& plan, Backend& backend, int iters) {
  plan.set_profiling(true);
  for (int i = 0; i < iters; ++i) plan.run();
  backend.synchronize();
  plan.set_profiling(false);
  auto seconds = plan.seconds_by_op();
  double total = 0;
  for (double s : seconds) total += s;
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(seconds.size()); ++i)
    if (seconds[static_cast<size_t>(i)] > 0) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return seconds[static_cast<size_t>(a)] > seconds[static_cast<size_t>(b)];
  });
  std::printf("  training step by op kind (%d profiled runs):\n", iters);
  for (int i : order)
    std::printf("    %-32s %8.3f ms  %5.1f%%\n", op_def(static_cast<Op>(i)).name,
                1e3 * seconds[static_cast<size_t>(i)] / iters,
                100 * seconds[static_cast<size_t>(i)] / total);
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) {
  std::string arch, device;
  int batch, iters, warmup, threads, size, channels, classes;
  bool profile = false;
  po::options_description o("bench options");
  o.add_options()("arch", po::value(&arch)->default_value("smallcnn"), "architecture")(
      "batch-size", po::value(&batch)->default_value(128), "batch size")(
      "image-size", po::value(&size)->default_value(28), "input height = width")(
      "channels", po::value(&channels)->default_value(1), "input channels")(
      "classes", po::value(&classes)->default_value(10), "classes")(
      "iters", po::value(&iters)->default_value(20), "timed iterations")(
      "warmup", po::value(&warmup)->default_value(3), "untimed iterations first")(
      "threads", po::value(&threads)->default_value(0), "CPU threads (0: all cores)")(
      "device", po::value(&device)->default_value("cpu"), "cpu | reference | cuda")(
      "profile", po::bool_switch(&profile), "also print the training step's time per op kind");
  po::variables_map vm;
  if (!parse_command("bench", "Measure training and inference speed on synthetic data.", o, args,
                     vm))
    return 0;
  if (batch < 1 || iters < 1 || warmup < 0)
    throw UsageError{"advmoe bench: --batch-size and --iters must be at least 1"};
  set_threads(threads);

  ModelConfig mc{arch, batch, Shape{size, size, channels}, classes, 1.0, DType::F32};
  Model model = build_model(mc);
  auto backend = make_backend(device);
  ClassifierTrainer trainer(model, *backend, TrainConfig{});
  Variables& vars = trainer.variables();
  Tensor images = Tensor::zeros(vars.get("images").shape(), DType::F32);
  RandomStream(1, 1).fill_uniform(images, 0, 1);
  Tensor labels = Tensor::zeros(vars.get("labels").shape(), DType::I32);
  for (int64_t i = 0; i < labels.numel(); ++i)
    labels.data<int32_t>()[i] = static_cast<int32_t>(i % classes);
  backend->copy(vars.get("images"), images);
  backend->copy(vars.get("labels"), labels);

  double train_s = time_runs(trainer.train_plan(), *backend, warmup, iters);
  double eval_s = time_runs(trainer.eval_plan(), *backend, warmup, iters);
  const PlanMemory& tm = trainer.train_plan().memory();
  const PlanMemory& em = trainer.eval_plan().memory();
  std::printf("advmoe bench: %s, batch %d, input %dx%dx%d, backend %s, %d threads\n", arch.c_str(),
              batch, size, size, channels, backend->name().c_str(), threads);
  std::printf("  train step (forward+backward): %8.2f ms  %9.0f images/s\n", 1e3 * train_s,
              batch / train_s);
  std::printf("  inference (eval forward):      %8.2f ms  %9.0f images/s\n", 1e3 * eval_s,
              batch / eval_s);
  std::printf(
      "  train plan memory: peak %.2f MiB (unshared %.2f MiB, scratchpad %.2f MiB, kernel-owned "
      "%.2f MiB)\n",
      tm.arena_bytes / 1048576.0, tm.unshared_bytes / 1048576.0, tm.scratchpad_bytes / 1048576.0,
      tm.kernel_owned_bytes / 1048576.0);
  std::printf("  eval plan memory:  peak %.2f MiB (unshared %.2f MiB)\n",
              em.arena_bytes / 1048576.0, em.unshared_bytes / 1048576.0);
  if (profile) print_profile(trainer.train_plan(), *backend, iters);
  return 0;
}

}  // namespace advmoe
