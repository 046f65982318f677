// The cascade: clean pass, sanity checks, one stage per attack on the points still robust, the
// per-batch state file, and the reports (table, JSON, HDF5).
#include "training/attacks/autoattack.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "datasets/batcher.h"
#include "runtime/files.h"
#include "training/attacks/cascade_state.h"
#include "training/progress.h"

namespace advmoe {

namespace {

bool gradient_based(EvalAttackKind k) {
  return k != EvalAttackKind::Square;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

bool is_cascade_attack(const std::string& name) {
  return name == "aa" || name == "aa-fast" || name == "apgd-ce" || name == "apgd-dlr" ||
         name == "apgd-t" || name == "fab-t" || name == "square";
}

CascadeConfig cascade_for(const std::string& name, PgdNorm norm) {
  CascadeConfig c;
  c.norm = norm;
  using K = EvalAttackKind;
  if (name == "aa") {
    c.attacks = {K::ApgdCe, K::ApgdT, K::FabT};
    if (norm == PgdNorm::Linf) {
      c.attacks.push_back(K::Square);
      c.version = "standard";
    } else {
      c.version = "standard without Square (non-standard: Square is implemented for L-inf only)";
    }
  } else if (name == "aa-fast") {
    c.attacks = {K::ApgdCe, K::ApgdT};
    c.version = "aa-fast (non-standard: APGD-CE + APGD-T only)";
  } else if (name == "apgd-ce") {
    c.attacks = {K::ApgdCe};
  } else if (name == "apgd-dlr") {
    c.attacks = {K::ApgdDlr};
  } else if (name == "apgd-t") {
    c.attacks = {K::ApgdT};
  } else if (name == "fab-t") {
    c.attacks = {K::FabT};
  } else if (name == "square") {
    ADVMOE_CHECK(norm == PgdNorm::Linf, "square is implemented for --norm linf only");
    c.attacks = {K::Square};
  } else {
    throw Error("unknown evaluation attack '" + name +
                "': expected aa, aa-fast, apgd-ce, apgd-dlr, apgd-t, fab-t or square");
  }
  if (c.version == "custom") c.version = "single attack: " + name;
  return c;
}

std::unique_ptr<EvalAttack> make_eval_attack(AttackModel& model, EvalAttackKind kind,
                                             const CascadeConfig& config,
                                             RouterGradient surrogate) {
  if (!gradient_based(kind)) {
    SquareConfig s;
    s.epsilon = config.epsilon;
    s.queries = config.square_queries;
    s.seed = config.seed;
    ADVMOE_CHECK(config.norm == PgdNorm::Linf, "square is implemented for --norm linf only");
    return std::make_unique<SquareAttack>(model, s);
  }
  if (kind == EvalAttackKind::FabT) {
    FabConfig f;
    f.norm = config.norm;
    f.epsilon = config.epsilon;
    f.iterations = config.fab_iterations;
    f.target_classes = config.target_classes;
    f.router_gradient = surrogate;
    return std::make_unique<FabAttack>(model, f);
  }
  ApgdConfig a;
  a.loss = kind == EvalAttackKind::ApgdCe    ? ApgdLoss::CrossEntropy
           : kind == EvalAttackKind::ApgdDlr ? ApgdLoss::Dlr
                                             : ApgdLoss::DlrTargeted;
  a.norm = config.norm;
  a.epsilon = config.epsilon;
  a.iterations = config.apgd_iterations;
  a.restarts = config.restarts;
  a.target_classes = config.target_classes;
  a.seed = config.seed;
  a.router_gradient = surrogate;
  return std::make_unique<ApgdAttack>(model, a);
}

EvaluationCascade::EvaluationCascade(Model& model, Variables& variables, CascadeConfig config)
    : config_(std::move(config)), attack_model_(std::make_unique<AttackModel>(model, variables)) {
  ADVMOE_CHECK(config_.epsilon >= 0, "the attack radius must be >= 0, got " << config_.epsilon);
  ADVMOE_CHECK(!config_.attacks.empty(), "the evaluation has no attack");
  std::vector<RouterGradient> surrogates{RouterGradient::None};
  if (config_.router_ste_too && attack_model_->is_moe())
    surrogates.push_back(RouterGradient::StraightThrough);
  if (config_.router_ste_only) surrogates = {RouterGradient::StraightThrough};
  for (EvalAttackKind kind : config_.attacks) {
    if (!gradient_based(kind)) {
      stages_.push_back(make_eval_attack(*attack_model_, kind, config_, RouterGradient::None));
      continue;
    }
    for (RouterGradient surrogate : surrogates)
      stages_.push_back(make_eval_attack(*attack_model_, kind, config_, surrogate));
  }
  for (const auto& s : stages_) names_.push_back(s->name());
}

EvaluationCascade::~EvaluationCascade() = default;

CascadeResult EvaluationCascade::run(const Dataset& test, const CascadeRunOptions& options) {
  AttackModel& am = *attack_model_;
  const int64_t n = test.size(), b = am.batch(), k = am.classes(), per = am.sample_elements();
  const int64_t layers = static_cast<int64_t>(am.route_outputs().size());
  const int64_t stages = static_cast<int64_t>(stages_.size());
  const int experts = am.model().config.experts;
  ADVMOE_CHECK(test.num_classes == k,
               "the test set has " << test.num_classes << " classes, the model " << k);
  const Shape batch_shape = am.model().images.shape();
  const Shape image = test.image_shape();
  Tensor images = Tensor::zeros(batch_shape, DType::F32);
  Tensor labels = Tensor::zeros(Shape{b}, DType::I32);

  // 1. Clean pass: correctness and routes of every test point (recomputed on resume: it is
  // deterministic and cheap next to the attacks).
  std::vector<uint8_t> clean_correct(static_cast<size_t>(n), 0);
  std::vector<int32_t> clean_routes(static_cast<size_t>(layers * n), 0);
  {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    BatchLoader loader(test, order, b, false, Augmentation{}, 0, 0);
    int64_t offset = 0;
    while (int64_t rows = loader.next(images, labels)) {
      am.set_clean_images(images);
      const float* z = am.forward().data<float>();
      for (int64_t s = 0; s < rows; ++s)
        clean_correct[static_cast<size_t>(offset + s)] =
            predicted_class(z + s * k, k) == labels.data<int32_t>()[s];
      std::vector<std::vector<int32_t>> routes = am.last_routes();
      for (int64_t l = 0; l < layers; ++l)
        for (int64_t s = 0; s < rows; ++s)
          clean_routes[static_cast<size_t>(l * n + offset + s)] =
              routes[static_cast<size_t>(l)][static_cast<size_t>(s)];
      offset += rows;
    }
  }

  CascadeResult result;
  result.version = config_.version;
  // 2. AutoAttack's sanity checks on the first batch.
  {
    std::vector<int64_t> first(static_cast<size_t>(std::min(n, b)));
    for (size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i);
    BatchLoader loader(test, first, b, false, Augmentation{}, 0, 0);
    const int64_t rows = loader.next(images, labels);
    am.set_clean_images(images);
    am.set_labels(labels);
    Tensor reference = am.forward().clone();
    double drift = 0;
    for (int pass = 0; pass < 2; ++pass) {
      const Tensor& again = am.forward();
      for (int64_t i = 0; i < rows * k; ++i)
        drift = std::max(drift, std::fabs(static_cast<double>(again.data<float>()[i]) -
                                          reference.data<float>()[i]));
    }
    char line[512];
    if (drift > 0) {
      std::snprintf(line, sizeof line,
                    "the forward pass is not deterministic: logits of 3 evaluation passes differ "
                    "by up to %.3g; robust accuracy may be overestimated (randomized defense)",
                    drift);
      result.warnings.push_back(line);
    }
    bool probabilities = true;
    for (int64_t s = 0; s < rows && probabilities; ++s) {
      double total = 0;
      for (int64_t j = 0; j < k; ++j) {
        const float v = reference.data<float>()[s * k + j];
        probabilities = probabilities && v >= 0 && v <= 1;
        total += v;
      }
      probabilities = probabilities && std::fabs(total - 1) < 1e-4;
    }
    if (probabilities)
      result.warnings.push_back(
          "the model's outputs look like probabilities (in [0, 1], rows sum to 1): the attacks "
          "expect logits; a softmax before the loss flattens the gradients");
    LossGradientPlan& ce = am.loss_gradient(SampleLossAttrs::CrossEntropy, RouterGradient::None);
    ce.plan->run();
    const Tensor& g = am.fetch(ce.gradient);
    int64_t zero = 0;
    for (int64_t s = 0; s < rows; ++s) {
      bool all_zero = true;
      for (int64_t i = 0; i < per && all_zero; ++i) all_zero = g.data<float>()[s * per + i] == 0;
      zero += all_zero;
    }
    if (zero > 0.02 * rows) {
      std::snprintf(line, sizeof line,
                    "the input gradient is exactly zero for %lld of %lld clean points (%.1f%%): a "
                    "sign of gradient masking; gradient attacks cannot move these points",
                    static_cast<long long>(zero), static_cast<long long>(rows),
                    100.0 * zero / rows);
      result.warnings.push_back(line);
    }
  }

  // 3. The record: fresh, or the state file's.
  Record record;
  record.fooled_by.assign(static_cast<size_t>(n), -1);
  for (int64_t i = 0; i < n; ++i)
    if (!clean_correct[static_cast<size_t>(i)]) record.fooled_by[static_cast<size_t>(i)] = -2;
  record.routes.assign(static_cast<size_t>(stages * layers * n), -1);
  record.attacked.assign(static_cast<size_t>(stages * n), 0);
  // Lazily decoded datasets would need the clean images decoded again for the saved file.
  ADVMOE_CHECK(!(options.keep_images && test.lazy()),
               "--save-adversarial needs an in-memory dataset; " << test.name << " is decoded "
                                                                 << "from files batch by batch");
  record.seconds.assign(static_cast<size_t>(stages), 0);
  if (options.keep_images) {
    record.images = Tensor::zeros(Shape{n, image[0], image[1], image[2]}, DType::F32);
    for (int64_t i = 0; i < record.images.numel(); ++i)
      record.images.data<float>()[i] = test.pixel(i);
  }
  const std::string print = state_fingerprint(config_, names_, test, b);
  if (!options.state_path.empty() && read_state(options.state_path, print, record, layers, n)) {
    for (int64_t i = 0; i < n; ++i)
      ADVMOE_CHECK((record.fooled_by[static_cast<size_t>(i)] == -2) ==
                       !clean_correct[static_cast<size_t>(i)],
                   "state file '" << options.state_path << "': sample " << i
                                  << " was classified differently when it was written (another "
                                  << "checkpoint or build?)");
    if (options.progress)
      std::printf("resuming from %s: attack %d of %lld, batch %d\n", options.state_path.c_str(),
                  record.stage + 1, static_cast<long long>(stages), record.next_batch + 1);
  }

  // 4. The stages.
  int64_t batches_run = 0, rejected = 0;
  bool stopped = false;
  for (; record.stage < stages && !stopped; ++record.stage, record.next_batch = 0) {
    const int32_t stage = record.stage;
    // The points robust when this stage began: still robust, or fooled by this stage.
    std::vector<int64_t> points;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t f = record.fooled_by[static_cast<size_t>(i)];
      if (f == -1 || f == stage) points.push_back(i);
    }
    const int64_t batches = (static_cast<int64_t>(points.size()) + b - 1) / b;
    if (record.next_batch >= batches) continue;
    std::vector<int64_t> order(points.begin() + record.next_batch * b, points.end());
    BatchLoader loader(test, order, b, false, Augmentation{}, 0, 0);
    const auto stage_start = std::chrono::steady_clock::now();
    const int first_batch = record.next_batch;
    for (int64_t batch_index = record.next_batch; batch_index < batches; ++batch_index) {
      if (options.max_batches >= 0 && batches_run >= options.max_batches) {
        stopped = true;
        break;
      }
      const int64_t rows = loader.next(images, labels);
      const int64_t base = batch_index * b;
      const auto start = std::chrono::steady_clock::now();
      AttackBatch batch{images, labels, rows,
                        (static_cast<uint64_t>(stage) << 24) + static_cast<uint64_t>(batch_index)};
      AttackOutcome outcome;
      am.set_clean_images(images);  // the companion input of split models stays clean
      stages_[static_cast<size_t>(stage)]->run(batch, outcome);
      // Every claim is checked: the point is in the ball and in [0, 1], and the model (one
      // forward pass, which also gives the routes) misclassifies it.
      am.set_images(outcome.adversarial);
      const float* z = am.forward().data<float>();
      std::vector<std::vector<int32_t>> routes = am.last_routes();
      for (int64_t s = 0; s < rows; ++s) {
        const int64_t index = points[static_cast<size_t>(base + s)];
        const float* x = outcome.adversarial.data<float>() + s * per;
        ADVMOE_CHECK(std::all_of(x, x + per, [](float v) { return v >= 0 && v <= 1; }),
                     names_[static_cast<size_t>(stage)] << " left [0, 1] on test sample " << index);
        const double distance =
            perturbation_norm(x, images.data<float>() + s * per, per, config_.norm);
        ADVMOE_CHECK(distance <= config_.epsilon * (1 + 1e-5) + 1e-6,
                     names_[static_cast<size_t>(stage)] << " left the eps-ball on test sample "
                                                        << index << ": distance " << distance);
        const bool claimed = outcome.fooled[static_cast<size_t>(s)];
        const bool fooled = claimed && predicted_class(z + s * k, k) != labels.data<int32_t>()[s];
        rejected += claimed && !fooled;
        if (fooled) record.fooled_by[static_cast<size_t>(index)] = stage;
        record.attacked[static_cast<size_t>(stage * n + index)] = 1;
        for (int64_t l = 0; l < layers; ++l)
          record.routes[static_cast<size_t>((stage * layers + l) * n + index)] =
              routes[static_cast<size_t>(l)][static_cast<size_t>(s)];
        // The worst case: a fooling point, else the first attack's worst point.
        if (options.keep_images && (fooled || stage == 0))
          std::memcpy(record.images.data<float>() + index * per,
                      outcome.adversarial.data<float>() + s * per, sizeof(float) * per);
      }
      record.seconds[static_cast<size_t>(stage)] += seconds_since(start);
      record.next_batch = static_cast<int32_t>(batch_index + 1);
      ++batches_run;
      if (!options.state_path.empty()) write_state(options.state_path, print, record, layers, n);
      if (options.progress) {
        int64_t robust = 0;
        for (int32_t f : record.fooled_by) robust += f == -1;
        const double elapsed = seconds_since(stage_start);
        const double eta = elapsed / (batch_index + 1 - first_batch) * (batches - batch_index - 1);
        std::printf("  %s: batch %lld/%lld, %lld points left, RA so far %.2f%%, %s, ETA %s\n",
                    names_[static_cast<size_t>(stage)].c_str(),
                    static_cast<long long>(batch_index + 1), static_cast<long long>(batches),
                    static_cast<long long>(robust), 100.0 * robust / n,
                    format_duration(elapsed).c_str(), format_duration(eta).c_str());
        std::fflush(stdout);
      }
    }
    if (stopped) break;
  }
  result.finished = !stopped;
  if (rejected > 0)
    result.warnings.push_back(std::to_string(rejected) +
                              " points an attack reported as misclassified were classified "
                              "correctly when checked (a tie of logits, or a forward pass that "
                              "depends on the batch); they count as robust");

  // 5. The report, from the per-sample record alone (so a resumed run reports the same).
  result.total = n;
  result.fooled_by = record.fooled_by;
  result.per_class_total.assign(static_cast<size_t>(k), 0);
  result.per_class_clean.assign(static_cast<size_t>(k), 0);
  result.per_class_robust.assign(static_cast<size_t>(k), 0);
  for (int64_t i = 0; i < n; ++i) {
    const size_t label = static_cast<size_t>(test.labels[static_cast<size_t>(i)]);
    ++result.per_class_total[label];
    result.clean_correct += clean_correct[static_cast<size_t>(i)];
    result.per_class_clean[label] += clean_correct[static_cast<size_t>(i)];
    const bool robust = record.fooled_by[static_cast<size_t>(i)] == -1;
    result.robust += robust;
    result.per_class_robust[label] += robust;
  }
  for (int64_t s = 0; s < stages; ++s) {
    AttackReport a;
    a.name = names_[static_cast<size_t>(s)];
    a.seconds = record.seconds[static_cast<size_t>(s)];
    a.fooled_per_class.assign(static_cast<size_t>(k), 0);
    a.route_changed.assign(static_cast<size_t>(layers), 0);
    for (int64_t l = 0; l < layers; ++l)
      a.usage.push_back({am.model().routes[static_cast<size_t>(l)].first,
                         std::vector<int64_t>(static_cast<size_t>(experts), 0)});
    for (int64_t i = 0; i < n; ++i) {
      if (!record.attacked[static_cast<size_t>(s * n + i)]) continue;
      ++a.attacked;
      if (record.fooled_by[static_cast<size_t>(i)] == s) {
        ++a.fooled;
        ++a.fooled_per_class[static_cast<size_t>(test.labels[static_cast<size_t>(i)])];
      }
      bool any = false;
      for (int64_t l = 0; l < layers; ++l) {
        const int32_t route = record.routes[static_cast<size_t>((s * layers + l) * n + i)];
        const bool changed = route != clean_routes[static_cast<size_t>(l * n + i)];
        a.route_changed[static_cast<size_t>(l)] += changed;
        any = any || changed;
        ++a.usage[static_cast<size_t>(l)].counts[static_cast<size_t>(route)];
      }
      a.route_changed_any += any;
    }
    result.attacks.push_back(a);
  }
  // Square finding points the gradient attacks missed is a sign of gradient masking.
  if (result.finished) {
    int64_t square_only = 0;
    bool has_gradient_stage = false;
    for (int64_t s = 0; s < stages; ++s) {
      if (names_[static_cast<size_t>(s)] == "square")
        square_only += result.attacks[static_cast<size_t>(s)].fooled;
      else
        has_gradient_stage = true;
    }
    if (has_gradient_stage && 100.0 * square_only / n > 0.2) {
      char line[400];
      std::snprintf(line, sizeof line,
                    "Square (gradient-free) lowers robust accuracy by %.2f points after the "
                    "gradient attacks (%lld points): a sign of gradient masking",
                    100.0 * square_only / n, static_cast<long long>(square_only));
      result.warnings.push_back(line);
    }
  }
  if (options.keep_images) result.adversarial = record.images;
  return result;
}

}  // namespace advmoe
