// advmoe train: options -> a validated TrainConfig, MethodConfig and RunConfig (and, with
// --resume, the checked checkpoint header), then one TrainingRun (training/training_run.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "datasets/registry.h"
#include "models/dual_model.h"
#include "models/registry.h"
#include "models/sparse_model.h"
#include "runtime/communicator.h"
#include "tools/attack_options.h"
#include "tools/device_options.h"
#include "tools/options.h"
#include "tools/process_group.h"
#include "tools/resume_check.h"
#include "training/checkpoint.h"
#include "training/data_parallel.h"
#include "training/training_run.h"

namespace advmoe {

namespace {

struct TrainOptions {
  std::string dataset, data_dir, arch, variant, out, resume, schedule, augment, normalize;
  std::string best_metric, routing, router_grad, router_input;
  std::string phase, init_from, train_groups, mask, launcher;
  bool sync_bn = false;
  double keep = 0;
  DeviceOptions device;
  int experts = 2;
  double balance_loss = 0;
  double balance_bias = 0;
  int eval_pgd_steps = -1, final_pgd_steps = -1, final_restarts = 1;
  std::string method, preset, epsilon, attack_step_size;
  double router_lr = 0;
  int attack_steps = 2;
  double beta = 6.0;
  std::string alpha = "0.7";
  int64_t eval_limit = 1000;
  std::string eval_epsilon, eval_step_size;
  int epochs = 1, batch = 128, threads = 0;
  double lr = 0.05, momentum = 0.9, weight_decay = 5e-4, width = 1.0, ratio = 1.0;
  uint64_t seed = 0;
  int64_t train_limit = 0, test_limit = 0;
};

po::options_description train_options(TrainOptions& t) {
  po::options_description o("train options");
  auto add = o.add_options();
  add("dataset", po::value(&t.dataset)->default_value("fashion-mnist"),
      "fashion-mnist | mnist | cifar10 | cifar100 | tiny-imagenet | imagenet");
  add("data-dir", po::value(&t.data_dir)->default_value(""),
      "dataset folder (default: the dataset's standard location)");
  add("arch", po::value(&t.arch)->default_value("smallcnn"),
      "smallcnn | resnet18 | wrn-28-10 | vgg16-bn | densenet-bc-40 | densenet-bc-100");
  add("variant", po::value(&t.variant)->default_value("dense"),
      "dense | sdense | moe | sparse (HYDRA's masks on a pretrained dense model; needs --phase)");
  add("phase", po::value(&t.phase)->default_value("none"),
      "sparse: prune (weights frozen, scores trained; --init-from a dense or sparse checkpoint) | "
      "finetune (scores frozen, kept weights trained; --init-from the pruned checkpoint)");
  add("keep", po::value(&t.keep)->default_value(0.0),
      "sparse: share k in (0, 1] of each layer's weights (unstructured) or filters (structured) "
      "the masks keep (0: match one MoE pathway at --ratio and --experts; finetune: the "
      "checkpoint's)");
  add("mask", po::value(&t.mask)->default_value("structured"),
      "sparse: structured (top-k filters by the L1 norm of their scores) | unstructured (top-k "
      "weights per layer)");
  add("init-from", po::value(&t.init_from)->default_value(""),
      "start from this checkpoint's parameters and buffers (same architecture; a dense one for "
      "--phase prune); a new run, epoch 1 (a resumed run continues from its last.h5 instead)");
  add("train-groups", po::value(&t.train_groups)->default_value("all"),
      "parameter groups trained, the rest frozen: all | backbone | router | scores (standard, "
      "pgd-at, trades; --phase sets it)");
  add("ratio", po::value(&t.ratio)->default_value(1.0),
      "width ratio r of sdense and moe, in (0, 1]");
  add("experts", po::value(&t.experts)->default_value(2), "experts N per MoE layer (moe)");
  add("balance-loss", po::value(&t.balance_loss)->default_value(0.0),
      "moe: weight of the load-balancing loss N * sum_e f_e * mean p_e per router (0: off)");
  add("balance-bias", po::value(&t.balance_bias)->default_value(-1),
      "moe: bias balancing - after every step each router's offset of an expert above its share "
      "of the batch goes down by this much, below it up, in training and in evaluation mode (0: "
      "off; -1: 0.1 with per-layer routers, 0 with the global one; docs/moe.md)");
  add("router-input", po::value(&t.router_input)->default_value("standardized"),
      "moe, per-layer routers: standardized (the layer input's average pool standardized per "
      "channel, linear without bias; the default, docs/moe.md) | pooled (the plain pool, linear "
      "with bias: the paper's router)");
  add("routing", po::value(&t.routing)->default_value("auto"),
      "moe routing: layer (a router per MoE conv) | global (one router network on the image) | "
      "auto (global for --preset reference-code, layer otherwise)");
  add("normalize", po::value(&t.normalize)->default_value("none"),
      "input normalization inside the model: none | cifar10 | cifar100 | imagenet");
  add("width", po::value(&t.width)->default_value(1.0), "channel multiplier of a dense model");
  add("augment", po::value(&t.augment)->default_value("auto"),
      "auto | none | crop | flip | crop+flip (crop: zero-pad 4, random 32x32 window; auto: "
      "crop+flip for natural images, none for the MNIST family)");
  add("epochs", po::value(&t.epochs)->default_value(1),
      "training epochs (in total, when resuming)");
  add("batch-size", po::value(&t.batch)->default_value(128), "batch size");
  add("lr", po::value(&t.lr)->default_value(0.05), "peak learning rate");
  add("schedule", po::value(&t.schedule)->default_value("cosine"), "cosine | constant");
  add("momentum", po::value(&t.momentum)->default_value(0.9), "SGD momentum");
  add("weight-decay", po::value(&t.weight_decay)->default_value(5e-4), "SGD weight decay");
  add("seed", po::value(&t.seed)->default_value(0),
      "seed of initialization and data order, in [0, 2^53]");
  add("train-limit", po::value(&t.train_limit)->default_value(0),
      "use the first N training images");
  add("test-limit", po::value(&t.test_limit)->default_value(0), "use the first N test images");
  add("threads", po::value(&t.threads)->default_value(0), "CPU threads (0: all cores)");
  add("out", po::value(&t.out)->default_value(""),
      "run directory for config.ini, metrics.csv, last.h5, best.h5 (default: runs/<dataset>-<arch>-"
      "<variant>-seed<seed>)");
  add("resume", po::value(&t.resume), "continue the run in this directory from its last.h5");
  add("method", po::value(&t.method)->default_value("standard"),
      "standard | pgd-at | trades | advmoe (bi-level router/backbone steps; needs --variant moe) | "
      "rt-er (PGD-AT plus a KL term robustifying each sample's second-choice expert; needs "
      "--variant moe, docs/dual.md) | jtdmoe (a standard and a robust MoE trained jointly as "
      "the dual model; needs --variant moe)");
  add("epsilon", po::value(&t.epsilon)->default_value("8/255"),
      "training attack's L-inf radius (a/b allowed)");
  add("attack-steps", po::value(&t.attack_steps)->default_value(2),
      "training attack's PGD steps K");
  add("attack-step-size", po::value(&t.attack_step_size)->default_value("0"),
      "training attack's step (0: 2.5 * epsilon / K)");
  add("beta", po::value(&t.beta)->default_value(6.0),
      "TRADES / RT-ER / JTDMoE weight of the KL term");
  add("alpha", po::value(&t.alpha)->default_value("0.7"),
      "jtdmoe: the dual model's robust share alpha in [0, 1] (F = (1 - alpha) F_std + alpha "
      "F_rob)");
  add("preset", po::value(&t.preset)->default_value("paper"),
      "advmoe: paper (Algorithm 1: routers on one batch, backbone on another) | reference-code "
      "(the public code: global router, both steps on one batch, router CE to y mod N + KL)");
  add("router-lr", po::value(&t.router_lr)->default_value(0.0),
      "advmoe: the routers' peak learning rate, same schedule (0: --lr)");
  add("router-grad", po::value(&t.router_grad)->default_value("none"), kRouterGradHelp);
  add("eval-pgd-steps", po::value(&t.eval_pgd_steps)->default_value(-1),
      "after each epoch, robust accuracy under PGD with this many steps on --eval-limit test "
      "images (-1: 10 for adversarial methods, off for standard; 0: off)");
  add("eval-epsilon", po::value(&t.eval_epsilon)->default_value("auto"),
      "evaluation PGD's L-inf radius (a/b allowed; auto: --epsilon)");
  add("eval-step-size", po::value(&t.eval_step_size)->default_value("auto"),
      "evaluation PGD's step size (a/b allowed; auto: radius / 4)");
  add("eval-limit", po::value(&t.eval_limit)->default_value(1000),
      "per-epoch PGD on the first N test images");
  add("final-pgd-steps", po::value(&t.final_pgd_steps)->default_value(-1),
      "at the end, robust accuracy under PGD with this many steps on the whole test set (-1: 50 "
      "for adversarial methods, off for standard; 0: off)");
  add("final-restarts", po::value(&t.final_restarts)->default_value(1),
      "random restarts of the final PGD (each image keeps its worst case)");
  add("best-metric", po::value(&t.best_metric)->default_value("test_accuracy"),
      "what best.h5 keeps the best epoch of: test_accuracy | test_loss | train_accuracy | "
      "train_loss");
  add("launcher", po::value(&t.launcher)->default_value("auto"),
      "data-parallel training (docs/distributed.md): auto (MPI when started by mpirun) | mpi | "
      "none (one process); --batch-size stays the global batch, split evenly over the ranks");
  add("sync-bn", po::bool_switch(&t.sync_bn),
      "data-parallel: batch norm sums its training statistics over the ranks (default: each "
      "rank normalizes with its own rows, as PyTorch's DDP)");
  add_device_options(o, t.device);
  return o;
}

// Range checks of every numeric option, before any work: a value outside its range is a
// usage error naming the option, its range and the value given.
void check(const TrainOptions& t) {
  auto in = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  auto text = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  const std::string c = "train";
  require(t.epochs >= 1 && t.epochs <= kMaxEpochs, c,
          "--epochs must be in [1, " + text(kMaxEpochs) + "], got " + text(t.epochs));
  require(t.batch >= 1 && t.batch <= 65536, c,
          "--batch-size must be in [1, 65536], got " + text(t.batch));
  require(in(t.lr, 0, 10) && t.lr > 0, c, "--lr must be in (0, 10], got " + text(t.lr));
  require(in(t.router_lr, 0, 10), c, "--router-lr must be in [0, 10], got " + text(t.router_lr));
  require(in(t.momentum, 0, 1) && t.momentum < 1, c,
          "--momentum must be in [0, 1), got " + text(t.momentum));
  require(in(t.weight_decay, 0, 1) && t.weight_decay < 1, c,
          "--weight-decay must be in [0, 1), got " + text(t.weight_decay));
  require(in(t.width, 0.01, 16), c, "--width must be in [0.01, 16], got " + text(t.width));
  require(in(t.ratio, 0.01, 1), c, "--ratio must be in [0.01, 1], got " + text(t.ratio));
  require(t.experts >= 1 && t.experts <= 64, c,
          "--experts must be in [1, 64], got " + text(t.experts));
  require(in(t.balance_bias, 0, 10) || t.balance_bias == -1, c,
          "--balance-bias must be in [0, 10] (or -1: the default), got " + text(t.balance_bias));
  require(in(t.balance_loss, 0, 1000), c,
          "--balance-loss must be in [0, 1000], got " + text(t.balance_loss));
  require(in(t.beta, 0, 1000), c, "--beta must be in [0, 1000], got " + text(t.beta));
  require(t.attack_steps >= 1 && t.attack_steps <= 1000, c,
          "--attack-steps must be in [1, 1000], got " + text(t.attack_steps));
  require(t.eval_pgd_steps >= -1 && t.eval_pgd_steps <= 100000, c,
          "--eval-pgd-steps must be in [-1, 100000], got " + text(t.eval_pgd_steps));
  require(t.final_pgd_steps >= -1 && t.final_pgd_steps <= 100000, c,
          "--final-pgd-steps must be in [-1, 100000], got " + text(t.final_pgd_steps));
  require(t.final_restarts >= 1 && t.final_restarts <= 1000, c,
          "--final-restarts must be in [1, 1000], got " + text(t.final_restarts));
  require(t.train_limit >= 0, c, "--train-limit must be >= 0, got " + text(t.train_limit));
  require(t.test_limit >= 0, c, "--test-limit must be >= 0, got " + text(t.test_limit));
  require(t.eval_limit >= 0, c, "--eval-limit must be >= 0, got " + text(t.eval_limit));
  // Checkpoints store the seed as a float64, exact up to 2^53 (and -1 would wrap to 2^64 - 1).
  require(t.seed <= (uint64_t{1} << 53), c,
          "--seed must be in [0, 2^53], got " + std::to_string(t.seed) +
              (t.seed > (uint64_t{1} << 63) ? " (a negative number?)" : ""));
  if (t.method != "standard" && t.method != "pgd-at" && t.method != "trades" &&
      t.method != "advmoe" && t.method != "rt-er" && t.method != "jtdmoe")
    throw UsageError{
        "advmoe train: --method must be standard, pgd-at, trades, advmoe, rt-er or jtdmoe, "
        "got '" +
        t.method + "'"};
  if (t.preset != "paper" && t.preset != "reference-code")
    throw UsageError{"advmoe train: --preset must be paper or reference-code, got '" + t.preset +
                     "'"};
  require(t.phase == "none" || t.phase == "prune" || t.phase == "finetune", c,
          "--phase must be none, prune or finetune, got '" + t.phase + "'");
  require(t.keep == 0 || in(t.keep, 0, 1), c, "--keep must be in (0, 1], got " + text(t.keep));
  require(t.train_groups == "all" || t.train_groups == "backbone" || t.train_groups == "router" ||
              t.train_groups == "scores",
          c,
          "--train-groups must be all, backbone, router or scores, got '" + t.train_groups + "'");
  if (t.schedule != "cosine" && t.schedule != "constant")
    throw UsageError{"advmoe train: --schedule must be cosine or constant, got '" + t.schedule +
                     "'"};
  require(t.launcher == "auto" || t.launcher == "mpi" || t.launcher == "none", c,
          "--launcher must be auto, mpi or none, got '" + t.launcher + "'");
}

std::string dataset_fingerprint(const Dataset& d) {
  uint64_t h = fingerprint(d.pixels.data(), d.pixels.size());
  h = fingerprint(d.labels.data(), d.labels.size() * sizeof(int32_t), h);
  for (const std::string& f : d.files) h = fingerprint(f.data(), f.size(), h);
  return std::to_string(d.size()) + " examples, fingerprint " + std::to_string(h);
}

// Every rank must run the same build, options and data (docs/distributed.md).
void check_ranks_configuration(const po::variables_map& vm, const Dataset& train,
                               const Dataset& test) {
  if (world().size() == 1) return;
  std::printf("data-parallel: %d ranks (MPI)\n", world().size());
  check_same_configuration({{"build", std::string(__DATE__ " " __TIME__ " ") + __VERSION__},
                            {"options", std::to_string(fingerprint(options_as_ini(vm).data(),
                                                                   options_as_ini(vm).size()))},
                            {"training data", dataset_fingerprint(train)},
                            {"test data", dataset_fingerprint(test)}});
}

Augmentation augmentation_of(const TrainOptions& t) {
  std::string a =
      t.augment == "auto" ? (augment_by_default(t.dataset) ? "crop+flip" : "none") : t.augment;
  if (a == "none") return {};
  if (a == "crop") return {4, false};
  if (a == "flip") return {0, true};
  if (a == "crop+flip") return {4, true};
  throw UsageError{"advmoe train: --augment must be auto, none, crop, flip or crop+flip, got '" +
                   t.augment + "'"};
}

// Sparse-CNN (docs/sparse.md): the phase's starting point and the keep ratio, printed with the
// MoE pathway it matches when it is the default.
void resolve_sparse(const TrainOptions& t, const po::variables_map& vm, ModelConfig& mc) {
  require(t.phase != "none", "train",
          "--variant sparse trains in phases: --phase prune (from a dense checkpoint, after "
          "adversarial pretraining) then --phase finetune (from the pruned checkpoint)");
  require(t.train_groups == "all", "train",
          "--phase sets the trained groups (prune: scores, finetune: backbone); leave "
          "--train-groups out");
  require(!t.init_from.empty() || !t.resume.empty(), "train",
          "--phase " + t.phase + " starts from a checkpoint: give --init-from");
  mc.mask = t.mask;
  mc.keep = t.keep;
  const std::string from = !t.resume.empty() ? t.resume + "/last.h5" : t.init_from;
  if (mc.keep > 0) return;
  if (!t.resume.empty() || t.phase == "finetune") {
    CheckpointHeader h = read_checkpoint_header(from);
    require(h.model.variant == "sparse", "train",
            "--phase finetune starts from a pruned (sparse) checkpoint; '" + from + "' is " +
                h.model.variant);
    mc.keep = h.model.keep;
    if (vm["mask"].defaulted()) mc.mask = h.model.mask;
    std::printf("sparse: keep %.4g of each layer's %s, as '%s'\n", mc.keep,
                mc.mask == "structured" ? "filters" : "weights", from.c_str());
    return;
  }
  KeepDefault k = default_keep(mc, t.experts);
  mc.keep = k.keep;
  std::printf(
      "sparse: keep %.4g of each layer's %s (default: one MoE pathway at r %.3g, N %d); masked "
      "weights %lld dense, %lld along one pathway (%.4g); MACs per sample %lld dense, %lld along "
      "one pathway (%.4g)\n",
      mc.keep, mc.mask == "structured" ? "filters, matching MACs" : "weights, matching parameters",
      mc.ratio, t.experts, static_cast<long long>(k.masked_weights),
      static_cast<long long>(k.pathway_weights),
      static_cast<double>(k.pathway_weights) / static_cast<double>(k.masked_weights),
      static_cast<long long>(k.dense_macs), static_cast<long long>(k.pathway_macs),
      static_cast<double>(k.pathway_macs) / static_cast<double>(k.dense_macs));
}

}  // namespace

int cmd_train(const std::vector<std::string>& args) {
  TrainOptions t;
  po::variables_map vm;
  if (!parse_command("train",
                     "Train a classifier; checkpoints and metrics go to the run directory.",
                     train_options(t), args, vm))
    return 0;
  check(t);
  bool adversarial = t.method != "standard";
  if (t.routing == "auto") t.routing = t.preset == "reference-code" ? "global" : "layer";
  // Healthy routing by default (docs/moe.md, "Expert collapse"): per-layer routers balance.
  if (t.balance_bias < 0) t.balance_bias = t.routing == "layer" ? 0.1 : 0.0;
  if (t.eval_pgd_steps < 0) t.eval_pgd_steps = adversarial ? 10 : 0;
  if (t.final_pgd_steps < 0) t.final_pgd_steps = adversarial ? 50 : 0;
  double train_epsilon = parse_fraction_in("--epsilon", t.epsilon, 0, 1);
  const double dual_alpha = parse_fraction_in("--alpha", t.alpha, 0, 1);
  RouterGradient router_gradient;
  try {
    router_gradient = parse_router_gradient(t.router_grad);
  } catch (const Error& e) {
    throw UsageError{std::string("advmoe train: --router-grad: ") + e.what()};
  }
  PgdConfig eval_pgd;  // per epoch on a fixed subset; the final attack differs in steps/restarts
  eval_pgd.epsilon = t.eval_epsilon == "auto"
                         ? train_epsilon
                         : parse_fraction_in("--eval-epsilon", t.eval_epsilon, 0, 1);
  eval_pgd.step_size = t.eval_step_size == "auto"
                           ? eval_pgd.epsilon / 4
                           : parse_fraction_in("--eval-step-size", t.eval_step_size, 0, 1);
  eval_pgd.steps = std::max(t.eval_pgd_steps, 1);
  eval_pgd.seed = t.seed;
  eval_pgd.router_gradient = router_gradient;
  PgdConfig final_pgd = eval_pgd;
  final_pgd.steps = std::max(t.final_pgd_steps, 1);
  final_pgd.restarts = t.final_restarts;
  if (!(eval_pgd.step_size > 0) && (t.eval_pgd_steps > 0 || t.final_pgd_steps > 0))
    throw UsageError{
        "advmoe train: the evaluation attack needs a positive step size (--eval-step-size, "
        "or --eval-epsilon above 0 for the automatic one)"};
  double attack_step_size = parse_fraction_in("--attack-step-size", t.attack_step_size, 0, 1);
  BestMetric best_metric;
  try {
    best_metric = parse_best_metric(t.best_metric);  // validates the name before any work
  } catch (const Error& e) {
    throw UsageError{std::string("advmoe train: --best-metric: ") + e.what()};
  }
  Augmentation augmentation = augmentation_of(t);
  const int64_t rank_batch = join_process_group("train", t.launcher, t.batch);
  require(world().size() == 1 || t.balance_loss == 0, "train",
          "--balance-loss is not reduced across ranks yet (each rank's f_e would be its own "
          "share's); use the bias balancing (--balance-bias) in data-parallel runs");
  set_threads(t.threads);
  std::string out = !t.resume.empty() ? t.resume
                    : !t.out.empty()  ? t.out
                                      : "runs/" + t.dataset + "-" + t.arch + "-" + t.variant +
                                           "-seed" + std::to_string(t.seed);

  if (world().rank() == 0) std::filesystem::create_directories(out);

  Dataset train = load_dataset(t.dataset, t.data_dir, "train", t.train_limit);
  Dataset test = load_dataset(t.dataset, t.data_dir, "test", t.test_limit);
  ADVMOE_CHECK(train.image_shape() == test.image_shape() && train.num_classes == test.num_classes,
               "dataset " << t.dataset << ": the train split (" << train.name << ") has images "
                          << train.image_shape() << " and the test split (" << test.name << ") has "
                          << test.image_shape() << "; both splits must agree");
  ADVMOE_CHECK(test.size() > 0, "dataset " << test.name << " has no test images");
  check_ranks_configuration(vm, train, test);
  require(train.size() >= t.batch, "train",
          "the training split " + train.name + " has " + std::to_string(train.size()) +
              " images, fewer than one batch (--batch-size " + std::to_string(t.batch) + ")");
  std::printf("data: %s %lld images, %s %lld images, image %s, %d classes\n", train.name.c_str(),
              static_cast<long long>(train.size()), test.name.c_str(),
              static_cast<long long>(test.size()), train.image_shape().str().c_str(),
              train.num_classes);

  ModelConfig mc;
  mc.arch = t.arch;
  mc.batch = rank_batch;  // each rank's graph holds its share of the global batch
  mc.sync_bn = t.sync_bn;
  mc.image = train.image_shape();
  mc.classes = train.num_classes;
  mc.width = t.width;
  mc.variant = t.variant;
  mc.ratio = t.ratio;
  mc.normalize = t.normalize;
  mc.experts = t.experts;
  mc.routing = t.routing;
  mc.router_input = t.router_input;
  // A resumed run keeps its checkpoint's router input, and so does one started from an MoE
  // checkpoint unless told otherwise (runs from before --router-input routed on the plain pool).
  const std::string source = !t.resume.empty() ? out + "/last.h5" : t.init_from;
  if (t.variant == "moe" && !source.empty() &&
      (!t.resume.empty() || vm["router-input"].defaulted()))
    mc.router_input = read_checkpoint_header(source).model.router_input;
  std::vector<std::string> groups;
  if (t.train_groups != "all") groups = {t.train_groups};
  if (t.variant == "sparse") {
    resolve_sparse(t, vm, mc);
    groups = {t.phase == "prune" ? "scores" : "backbone"};
  } else {
    require(t.phase == "none", "train", "--phase is for --variant sparse");
  }
  // Resume: the checkpoint is validated (architecture, configuration, step count) before any
  // Plan is compiled.
  CheckpointHeader resumed;
  int64_t steps = train.size() / t.batch;
  if (!t.resume.empty()) {
    std::string last = out + "/last.h5";
    resumed = read_checkpoint_header(last);
    ModelConfig wanted = mc;
    if (wanted.variant == "sdense" || wanted.variant == "moe") wanted.width = wanted.ratio;
    check_same_model(last, resumed.model, wanted);
    check_resume_config(last, resumed.state.config_ini, options_as_ini(vm));
    ADVMOE_CHECK(resumed.state.step == resumed.state.epoch * steps,
                 "'" << last << "': " << resumed.state.epoch << " completed epochs of " << steps
                     << " steps make " << resumed.state.epoch * steps << " steps, but its 'step' "
                     << "attribute is " << resumed.state.step
                     << " (did the training split or the batch size change?)");
  }
  Model model = t.method == "jtdmoe" ? build_dual_model(mc, mc, dual_alpha) : build_model(mc);
  auto backend = make_backend(t.device);
  TrainConfig tc;
  tc.epochs = t.epochs;
  tc.lr = t.lr;
  tc.schedule = parse_schedule(t.schedule);
  tc.seed = t.seed;
  tc.augmentation = augmentation;
  tc.balance_rate = t.balance_bias;
  MethodConfig method;
  method.method = parse_method(t.method);
  method.epsilon = train_epsilon;
  method.steps = t.attack_steps;
  method.step_size = attack_step_size;
  method.router_gradient = router_gradient;
  method.beta = t.beta;
  method.preset = parse_advmoe_preset(t.preset);
  method.router_lr_scale = t.router_lr > 0 ? t.router_lr / t.lr : 1.0;
  method.balance_loss = t.balance_loss;
  method.sgd = {t.momentum, t.weight_decay, false};
  method.train_groups = groups;
  RunConfig run;
  run.dir = out;
  run.config_ini = options_as_ini(vm);
  run.dataset = t.dataset;
  if (t.eval_pgd_steps > 0) run.epoch_attack = eval_pgd;
  run.epoch_attack_limit = t.eval_limit;
  if (t.final_pgd_steps > 0) run.final_attack = final_pgd;
  run.best_metric = best_metric;
  if (!t.resume.empty()) run.resume = resumed;
  run.init_from = t.init_from;
  TrainingRun training(model, *backend, tc, method, run);
  std::printf(
      "model: %s %s (r %.3g), %lld parameters; backend %s, precision %s; plan peak %.1f MiB; run "
      "%s\n",
      t.arch.c_str(), model.config.variant.c_str(), model.config.ratio,
      static_cast<long long>(model.num_parameters()), backend->name().c_str(),
      t.device.precision.c_str(),
      training.trainer().method().scored_plan().memory().arena_bytes / 1048576.0, out.c_str());
  training.run(train, test);
  return 0;
}

}  // namespace advmoe
