// advmoe bench: images/s of a training step (forward + backward) and of inference for one or more
// models on synthetic inputs, the plans' memory, optionally a per-op profile, and the data
// pipeline's images/s (BatchLoader with crop + flip), which must stay far above training speed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <sstream>

#include <sys/resource.h>

#include "datasets/batcher.h"
#include "models/dual_model.h"
#include "models/flops.h"
#include "models/registry.h"
#include "ops/op_registry.h"
#include "runtime/communicator.h"
#include "runtime/rng.h"
#include "tools/conv_peak.h"
#include "tools/device_options.h"
#include "tools/options.h"
#include "tools/process_group.h"
#include "training/attacks/apgd.h"
#include "training/attacks/square.h"
#include "training/trainer.h"

namespace advmoe {

namespace {

double seconds_per_run(Plan& plan, Backend& backend, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) plan.run();
  backend.synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) plan.run();
  backend.synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
}

template <typename F>
double seconds_per_call(F&& call, Backend& backend, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) call();
  backend.synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) call();
  backend.synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
}

// `copies` batches repeating the host batch `images`/`labels` (values in [0, 1]) as a dataset.
void print_profile(Plan& plan, Backend& backend, int iters, const char* what) {
  plan.set_profiling(true);
  for (int i = 0; i < iters; ++i) plan.run();
  backend.synchronize();
  plan.set_profiling(false);
  auto seconds = plan.seconds_by_op();
  double total = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  std::vector<size_t> order;
  for (size_t i = 0; i < seconds.size(); ++i)
    if (seconds[i] > 0) order.push_back(i);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return seconds[a] > seconds[b]; });
  std::printf("    %s by op kind (%d profiled runs, %.3f ms each):\n", what, iters,
              1e3 * total / iters);
  for (size_t i : order)
    std::printf("      %-32s %9.3f ms  %5.1f%%\n", op_def(static_cast<Op>(i)).name,
                1e3 * seconds[i] / iters, 100 * seconds[i] / total);
}

// Achieved arithmetic rate next to oneDNN's forward-conv rate on the same conv shapes. A forward
// pass costs F = 2 * MACs (convolutions and linear layers, one pathway per sample); PGD-K costs
// (2K + 1) F per image (K forwards and input gradients, each about F, and the final forward).
// `macs`: counted before the training method adds its copies of the forward pass to the graph.
void print_arithmetic(const Model& model, const MacCount& macs, Backend& backend,
                      double inference_rate, int pgd_steps, double pgd_rate) {
  double forward_gflop = 2.0 * static_cast<double>(macs.pathway + macs.router) / 1e9;
  ConvPeak peak = measure_conv_peak(*model.graph, backend);
  std::printf("    arithmetic: %.3f GFLOP per image forward; inference %.1f GFLOP/s", forward_gflop,
              forward_gflop * inference_rate);
  if (pgd_steps > 0)
    std::printf(", pgd-%d %.1f GFLOP/s", pgd_steps, (2 * pgd_steps + 1) * forward_gflop * pgd_rate);
  if (peak.shapes > 0) {
    double rate = peak.gflops_per_s();
    std::printf("; oneDNN %s forward conv on these %d shapes %.1f GFLOP/s (inference at %.0f%%",
                peak.type, peak.shapes, rate, 100 * forward_gflop * inference_rate / rate);
    if (pgd_steps > 0)
      std::printf(", pgd at %.0f%%", 100 * (2 * pgd_steps + 1) * forward_gflop * pgd_rate / rate);
    std::printf(")");
  }
  std::printf("\n");
}

struct BenchOptions {
  std::string archs, variant, routing, method, preset = "paper", phase = "none";
  DeviceOptions device;
  int pgd_steps = 0, apgd_iters = 0, square_queries = 0;
  int experts = 2;
  double ratio = 1.0, keep = 0.5;
  std::string mask = "structured";
  int batch = 128, iters = 10, warmup = 2, threads = 0, size = 0, channels = 0, classes = 10;
  bool profile = false, data = false;
};

// Bytes of gradient one iteration all-reduces: every allreduce_mean node's inputs (each level's
// nodes run once per iteration).
int64_t allreduce_bytes(const Graph& g) {
  int64_t bytes = 0;
  for (int i = 0; i < g.num_nodes(); ++i)
    if (g.node(i).op == Op::AllReduceMean)
      for (ValueId v : g.node(i).inputs)
        bytes += g.value(v).shape.numel() * static_cast<int64_t>(dtype_size(g.value(v).dtype));
  return bytes;
}

void bench_model(const std::string& arch, const BenchOptions& b) {
  ModelConfig mc;
  mc.arch = arch;
  // Data-parallel (under mpirun): --batch-size is the global batch, each rank holds its share.
  const int ranks = world().size();
  mc.batch = b.batch / ranks;
  // Default input: 28x28x1 for the small CNN, CIFAR's 32x32x3 otherwise.
  int size = b.size > 0 ? b.size : (arch == "smallcnn" ? 28 : 32);
  int channels = b.channels > 0 ? b.channels : (arch == "smallcnn" ? 1 : 3);
  mc.image = Shape{size, size, channels};
  mc.classes = b.classes;
  mc.variant = b.variant;
  mc.ratio = b.ratio;
  mc.keep = b.keep;
  mc.mask = b.mask;
  mc.experts = b.experts;
  bool fixed = b.routing == "balanced" || b.routing == "collapsed";
  mc.routing = fixed ? "fixed" : b.routing;
  // JTDMoE trains a dual model: two MoEs of this configuration.
  Model model = b.method == "jtdmoe" ? build_dual_model(mc, mc, 0.7) : build_model(mc);
  const MacCount macs = count_macs(model);  // one forward pass
  auto backend = make_backend(b.device);
  MethodConfig method;
  method.method = parse_method(b.method);
  method.preset = parse_advmoe_preset(b.preset);
  // Sparse-CNN phases train one group: prune the scores, finetune the kept weights.
  if (b.phase == "prune") method.train_groups = {"scores"};
  if (b.phase == "finetune") method.train_groups = {"backbone"};
  Trainer trainer(model, *backend, TrainConfig{}, method);
  Variables& vars = trainer.variables();
  Tensor images = Tensor::zeros(vars.get("images").shape(), DType::F32);
  RandomStream(1, 1).fill_uniform(images, 0, 1);
  Tensor labels = Tensor::zeros(vars.get("labels").shape(), DType::I32);
  for (int64_t i = 0; i < labels.numel(); ++i)
    labels.data<int32_t>()[i] = static_cast<int32_t>(i % b.classes);
  backend->copy(vars.get("images"), images);
  backend->copy(vars.get("labels"), labels);
  if (fixed) {
    Tensor route = Tensor::zeros(Shape{mc.batch}, DType::I32);
    for (int64_t i = 0; i < mc.batch; ++i)
      route.data<int32_t>()[i] = b.routing == "balanced" ? static_cast<int32_t>(i % b.experts) : 0;
    backend->copy(vars.get("route"), route);
  }

  // One whole iteration (attacks and steps) on fixed batches, so every timed iteration routes
  // the same samples (the same expert groups and buckets); AdvMoE's second batch (B_phi) is
  // another draw of the same distribution.
  std::vector<HostBatch> batches(static_cast<size_t>(trainer.method().batches_per_iteration()),
                                 HostBatch{images, labels});
  for (size_t k = 1; k < batches.size(); ++k) {
    batches[k].images = images.clone();
    RandomStream(1, 1 + k).fill_uniform(batches[k].images, 0, 1);
  }
  uint64_t key = 0;
  const double collective_before = collective_seconds();
  double train_s =
      seconds_per_call([&] { trainer.method().iterate(batches, key++, 0.05, [](double) {}); },
                       *backend, b.warmup, b.iters);
  const double allreduce_s = (collective_seconds() - collective_before) / (b.warmup + b.iters);
  double eval_s = seconds_per_run(trainer.eval_plan(), *backend, b.warmup, b.iters);
  double pgd_rate = 0;
  std::unique_ptr<PgdAttack> pgd_attack;
  if (b.pgd_steps > 0) {
    PgdConfig pgd;
    pgd.steps = b.pgd_steps;
    pgd_attack = std::make_unique<PgdAttack>(model, vars, pgd);
    PgdAttack& attack = *pgd_attack;
    Tensor adv = Tensor::zeros(images.shape(), DType::F32);
    // PGD-K evaluation of a batch: the attack, then the eval forward on its output.
    double s = seconds_per_call(
        [&] {
          attack.run(images, labels, adv, 0);
          backend->copy(vars.get("images"), adv);
          trainer.eval_plan().run();
        },
        *backend, 1, std::max(1, b.iters / 5));
    pgd_rate = mc.batch * ranks / s;
  }
  // AutoAttack's APGD-CE-K and Square-Q on the batch, every iteration / query timed (no early
  // stop once the points are fooled, so a random-init model measures the full cost).
  double apgd_rate = 0, square_rate = 0;
  if (b.apgd_iters > 0 || b.square_queries > 0) {
    AttackModel attack_model(model, vars);
    AttackBatch batch{images, labels, mc.batch, 0};
    AttackOutcome outcome;
    if (b.apgd_iters > 0) {
      ApgdConfig a;
      a.iterations = b.apgd_iters;
      a.stop_early = false;
      ApgdAttack apgd(attack_model, a);
      apgd_rate = mc.batch * ranks /
                  seconds_per_call([&] { apgd.run(batch, outcome); }, *backend, 1,
                                   std::max(1, b.iters / 5));
    }
    if (b.square_queries > 0) {
      SquareConfig q;
      q.queries = b.square_queries;
      q.stop_early = false;
      SquareAttack square(attack_model, q);
      square_rate = mc.batch * ranks /
                    seconds_per_call([&] { square.run(batch, outcome); }, *backend, 1,
                                     std::max(1, b.iters / 5));
    }
  }
  const PlanMemory& tm = trainer.method().scored_plan().memory();
  std::printf("  %-16s %-7s %11lld  %10.1f  %10.1f  %9.1f  %9.1f", arch.c_str(), mc.variant.c_str(),
              static_cast<long long>(model.num_parameters()), mc.batch * ranks / train_s,
              mc.batch * ranks / eval_s, tm.arena_bytes / 1048576.0, tm.unshared_bytes / 1048576.0);
  if (b.pgd_steps > 0) std::printf("  %10.1f", pgd_rate);
  if (b.apgd_iters > 0) std::printf("  %10.1f", apgd_rate);
  if (b.square_queries > 0) std::printf("  %10.2f", square_rate);
  std::printf("\n");
  print_arithmetic(model, macs, *backend, mc.batch * ranks / eval_s, b.pgd_steps, pgd_rate);
  if (b.apgd_iters > 0 && b.square_queries > 0) {
    // AutoAttack's standard cascade on a point that survives all four attacks (the cost of a
    // robust point; fooled points leave early): APGD-CE 100 iterations, APGD-T 9 x 100, FAB-T
    // 9 x 100 (costed as APGD iterations: a forward and an input gradient each), Square 5000
    // queries.
    // Seconds per image of one APGD iteration and of one Square query.
    double apgd_iteration_s = 1 / (apgd_rate * b.apgd_iters),
           square_query_s = 1 / (square_rate * b.square_queries);
    double robust_point_s = (100 + 900 + 900) * apgd_iteration_s + 5000 * square_query_s;
    std::printf(
        "    AutoAttack standard cascade, estimated from the apgd and square rates: %.3f s per "
        "robust image (%.2f images/s); a fooled image stops at its first success\n",
        robust_point_s, 1 / robust_point_s);
  }
  if (ranks > 1)
    std::printf(
        "    data-parallel: %d ranks of %lld images; %.1f MB of gradients all-reduced per "
        "iteration in %.1f ms (%.1f%% of the %.1f ms iteration)\n",
        ranks, static_cast<long long>(mc.batch), allreduce_bytes(*model.graph) / 1e6,
        1e3 * allreduce_s, 100 * allreduce_s / train_s, 1e3 * train_s);
  std::fflush(stdout);
  // All Plans of the program (eval, attacks, levels) share one arena: the largest Plan's needs,
  // not their sum. Peak RSS is the process's measured high-water mark (host memory).
  const SharedArena& arena = *vars.arena();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "    program memory: %d plans share %.1f MiB of intermediates + %.1f MiB of "
      "scratchpad (%.1f MiB if each had its own); peak RSS %.0f MiB\n",
      arena.plans(), arena.intermediate_bytes() / 1048576.0, arena.scratchpad_bytes() / 1048576.0,
      arena.unshared_bytes() / 1048576.0, usage.ru_maxrss / 1024.0);
  if (b.profile) print_profile(trainer.method().scored_plan(), *backend, b.iters, "training step");
  // One attack step's Plan: the eval-mode forward, the loss and the input gradient.
  if (b.profile && pgd_attack)
    print_profile(pgd_attack->plan(), *backend, b.iters, "PGD attack step");
}

// Loader throughput over a synthetic 32x32x3 dataset (CIFAR's shape) with crop + flip.
void bench_data(const BenchOptions& b) {
  Dataset d;
  d.name = "synthetic-cifar";
  d.shape = Shape{50000, 32, 32, 3};
  d.num_classes = 10;
  d.pixels.resize(static_cast<size_t>(d.shape.numel()));
  for (size_t i = 0; i < d.pixels.size(); ++i)
    d.pixels[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  d.labels.assign(50000, 1);
  Tensor images = Tensor::zeros({b.batch, 32, 32, 3}, DType::F32),
         labels = Tensor::zeros({b.batch}, DType::I32);
  auto start = std::chrono::steady_clock::now();
  BatchLoader loader(d, epoch_order(0, 1, d.size()), b.batch, true, Augmentation{4, true}, 0, 1);
  int64_t n = 0;
  while (int64_t rows = loader.next(images, labels)) n += rows;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  data pipeline (shuffle, pad-4 crop, flip, 32x32x3, batch %d): %.0f images/s\n",
              b.batch, n / s);
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) {
  BenchOptions b;
  po::options_description o("bench options");
  auto add = o.add_options();
  add("arch", po::value(&b.archs)->default_value("smallcnn"),
      "architecture, a comma-separated list, or 'all'");
  add("variant", po::value(&b.variant)->default_value("dense"),
      "dense | sdense | moe | sparse (the train column trains weights and scores)");
  add("keep", po::value(&b.keep)->default_value(0.5), "sparse: keep ratio k");
  add("mask", po::value(&b.mask)->default_value("structured"), "sparse: structured | unstructured");
  add("ratio", po::value(&b.ratio)->default_value(1.0), "width ratio r of sdense and moe");
  add("experts", po::value(&b.experts)->default_value(2), "experts N of moe");
  add("routing", po::value(&b.routing)->default_value("layer"),
      "moe routing: layer | global (routers decide) | balanced | collapsed (fixed routes: samples "
      "spread evenly over the experts, or all on expert 0)");
  add("batch-size", po::value(&b.batch)->default_value(128), "batch size");
  add("image-size", po::value(&b.size)->default_value(0), "input height = width (0: per model)");
  add("channels", po::value(&b.channels)->default_value(0), "input channels (0: per model)");
  add("classes", po::value(&b.classes)->default_value(10), "classes");
  add("iters", po::value(&b.iters)->default_value(10), "timed iterations");
  add("warmup", po::value(&b.warmup)->default_value(2), "untimed iterations first");
  add("threads", po::value(&b.threads)->default_value(0), "CPU threads (0: all cores)");
  add("method", po::value(&b.method)->default_value("standard"),
      "what the train column times: standard (one SGD step) | pgd-at | trades | advmoe | rt-er | "
      "jtdmoe (one whole iteration: attacks and steps, with the training defaults K = 2, beta = "
      "6; jtdmoe on a dual model of two such MoEs)");
  add("preset", po::value(&b.preset)->default_value("paper"),
      "advmoe: paper | reference-code (the public code's variant; needs --routing global)");
  add("phase", po::value(&b.phase)->default_value("none"),
      "sparse: none (weights and scores trained) | prune (scores only) | finetune (weights only)");
  add("pgd-steps", po::value(&b.pgd_steps)->default_value(0),
      "also time PGD-K evaluation (attack + forward) of a batch, in images/s (0: off)");
  add("apgd-iters", po::value(&b.apgd_iters)->default_value(0),
      "also time APGD-CE-K (K + 1 loss-and-gradient passes and K steps) of a batch, in images/s "
      "(0: off)");
  add("square-queries", po::value(&b.square_queries)->default_value(0),
      "also time Square with Q queries (Q + 1 forward passes) of a batch, in images/s (0: off)");
  add("profile", po::bool_switch(&b.profile), "print each training step's time per op kind");
  add("data", po::bool_switch(&b.data), "also measure the data pipeline");
  add_device_options(o, b.device);
  po::variables_map vm;
  if (!parse_command("bench", "Measure training and inference speed on synthetic data.", o, args,
                     vm))
    return 0;
  if (b.batch < 1 || b.iters < 1 || b.warmup < 0)
    throw UsageError{"advmoe bench: --batch-size and --iters must be at least 1"};
  if (b.phase != "none" && b.phase != "prune" && b.phase != "finetune")
    throw UsageError{"advmoe bench: --phase must be none, prune or finetune, got '" + b.phase +
                     "'"};
  if (b.phase != "none" && b.variant != "sparse")
    throw UsageError{"advmoe bench: --phase is for --variant sparse"};
  join_process_group("bench", "auto", b.batch);  // data-parallel under mpirun
  set_threads(b.threads);

  std::vector<std::string> archs;
  if (b.archs == "all") {
    archs = architectures();
  } else {
    std::stringstream list(b.archs);
    for (std::string a; std::getline(list, a, ',');) archs.push_back(a);
  }
  std::printf(
      "advmoe bench: batch %d, device %s, precision %s, %d threads (0: all); images/s, "
      "MiB\n",
      b.batch, b.device.device.c_str(), b.device.precision.c_str(), b.threads);
  std::printf("  %-16s %-7s %11s  %10s  %10s  %9s  %9s", "model", "variant", "parameters",
              b.method == "standard" ? "train" : b.method.c_str(), "inference", "peak", "unshared");
  if (b.pgd_steps > 0) std::printf("  %10s", ("pgd-" + std::to_string(b.pgd_steps)).c_str());
  if (b.apgd_iters > 0) std::printf("  %10s", ("apgd-ce-" + std::to_string(b.apgd_iters)).c_str());
  if (b.square_queries > 0)
    std::printf("  %10s", ("square-" + std::to_string(b.square_queries)).c_str());
  std::printf("\n");
  for (const std::string& arch : archs) bench_model(arch, b);
  if (b.data) bench_data(b);
  return 0;
}

}  // namespace advmoe
