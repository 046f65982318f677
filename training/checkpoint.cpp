// Checkpoint writing and validated reading.
#include "training/checkpoint.h"

#include "models/sparse_model.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "compile/autodiff.h"
#include "models/registry.h"
#include "runtime/error.h"
#include "training/checkpoint_metrics.h"
#include "training/hdf5_file.h"

namespace advmoe {

namespace {

constexpr const char* kFormatName = "advmoe-checkpoint";

Tensor host_copy(const Variables& v, const std::string& name) {
  const Tensor& t = v.get(name);
  Tensor host = Tensor::zeros(t.shape(), t.dtype());
  v.backend().copy(host, t);
  return host;
}

// Values of one role (Param or Buffer), by name.
std::vector<const ValueInfo*> values_with_role(const Model& model, Role role) {
  std::vector<const ValueInfo*> out;
  for (ValueId v = 0; v < model.graph->num_values(); ++v)
    if (model.graph->value(v).role == role) out.push_back(&model.graph->value(v));
  return out;
}

}  // namespace

Tensor to_pytorch_layout(const Tensor& t) {
  if (t.shape().rank() != 4) return t.clone();
  const Shape& s = t.shape();  // [O, kh, kw, I] -> [O, I, kh, kw]
  Tensor out = Tensor::zeros(Shape{s[0], s[3], s[1], s[2]}, t.dtype());
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  for (int64_t o = 0; o < s[0]; ++o)
    for (int64_t h = 0; h < s[1]; ++h)
      for (int64_t w = 0; w < s[2]; ++w)
        for (int64_t i = 0; i < s[3]; ++i)
          dst[((o * s[3] + i) * s[1] + h) * s[2] + w] = src[((o * s[1] + h) * s[2] + w) * s[3] + i];
  return out;
}

Tensor from_pytorch_layout(const Tensor& t) {
  if (t.shape().rank() != 4) return t.clone();
  const Shape& s = t.shape();  // [O, I, kh, kw] -> [O, kh, kw, I]
  Tensor out = Tensor::zeros(Shape{s[0], s[2], s[3], s[1]}, t.dtype());
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  for (int64_t o = 0; o < s[0]; ++o)
    for (int64_t i = 0; i < s[1]; ++i)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t w = 0; w < s[3]; ++w)
          dst[((o * s[2] + h) * s[3] + w) * s[1] + i] = src[((o * s[1] + i) * s[2] + h) * s[3] + w];
  return out;
}

void save_checkpoint(const std::string& path, const Model& model, const Variables& variables,
                     const RunState& state) {
  write_hdf5_atomically(path, [&](H5File& f) {
    const ModelConfig& c = model.config;
    f.set_attr("/", "format", kFormatName);
    f.set_attr("/", "format_version", kCheckpointFormatVersion);
    f.set_attr("/", "arch", c.arch);
    f.set_attr("/", "variant", c.variant);
    f.set_attr("/", "ratio", c.ratio);
    f.set_attr("/", "width", c.width);
    f.set_attr("/", "stem", c.stem);
    f.set_attr("/", "normalize", c.normalize);
    f.set_attr("/", "experts", c.variant == "moe" ? static_cast<double>(c.experts) : 0.0);
    f.set_attr("/", "routing", c.variant == "moe" ? c.routing : std::string("none"));
    if (c.variant == "moe") f.set_attr("/", "router_input", c.router_input);
    f.set_attr("/", "classes", static_cast<double>(c.classes));
    if (model.dual) f.set_attr("/", "dual_alpha", model.dual->alpha);
    if (c.variant == "sparse") {
      f.set_attr("/", "keep", c.keep);
      f.set_attr("/", "mask", c.mask);
    }
    f.set_attr("/", "input_shape", std::vector<int64_t>{c.image[2], c.image[0], c.image[1]});
    f.set_attr("/", "dataset", state.dataset);
    f.set_attr("/", "epoch", static_cast<double>(state.epoch));
    f.set_attr("/", "step", static_cast<double>(state.step));
    f.set_attr("/", "seed", static_cast<double>(state.seed));
    f.set_attr("/", "config", state.config_ini);
    if (!state.final_json.empty()) f.set_attr("/", "final", state.final_json);
    f.make_group("/params");
    f.make_group("/buffers");
    for (const ValueInfo* p : values_with_role(model, Role::Param)) {
      f.write("/params/" + p->name, to_pytorch_layout(host_copy(variables, p->name)));
      std::string momentum = "momentum/" + p->name;
      if (variables.has(momentum)) {
        std::string group = "/optimizer/" + p->group + "/momentum";
        f.make_group(group);
        f.write(group + "/" + p->name, to_pytorch_layout(host_copy(variables, momentum)));
      }
    }
    for (const ValueInfo* b : values_with_role(model, Role::Buffer))
      f.write("/buffers/" + b->name, host_copy(variables, b->name));
    write_metrics(f, state.metrics);
    write_busiest(f, state.metrics);
    if (c.variant != "sparse") return;
    // The masks the scores select, for analysts (loading recomputes them from the scores).
    std::map<std::string, Tensor> scores;
    for (const Model::MaskedLayer& l : model.masked)
      scores[l.scores.info().name] = host_copy(variables, l.scores.info().name);
    f.make_group("/masks");
    for (const auto& [module, m] : host_masks(model, scores))
      f.write("/masks/" + module, to_pytorch_layout(m.mask));
  });
}

namespace {

// A string attribute that must be one of `allowed`.
std::string attr_choice(const H5File& f, const std::string& name,
                        const std::vector<std::string>& allowed) {
  std::string v = f.attr_string("/", name, 256);
  std::string list;
  for (const std::string& a : allowed) {
    if (v == a) return v;
    list += (list.empty() ? "" : ", ") + a;
  }
  ADVMOE_FAIL("'" << f.path() << "': attribute '" << name << "' is '" << v << "'; expected one of "
                  << list);
}

}  // namespace

CheckpointHeader read_checkpoint_header(const std::string& path) {
  H5File f = H5File::open(path);
  ADVMOE_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format", 256) == kFormatName,
               "'" << path
                   << "' is an HDF5 file but not an advmoe checkpoint (no format attribute '"
                   << kFormatName << "')");
  double version = f.attr_double("/", "format_version");
  ADVMOE_CHECK(
      version >= 1 && version <= kCheckpointFormatVersion && version == std::floor(version),
      "'" << path << "' has checkpoint format version " << version
          << "; this advmoe reads versions 1 to " << kCheckpointFormatVersion);
  CheckpointHeader h;
  h.format_version = static_cast<int>(version);
  h.model.arch = attr_choice(f, "arch", architectures());
  h.model.variant = attr_choice(f, "variant", {"dense", "sdense", "moe", "sparse"});
  h.model.ratio = f.attr_number("/", "ratio", 1e-3, 1, false);
  ADVMOE_CHECK(h.model.ratio > 0, "'" << path << "': attribute 'ratio' must be positive");
  h.model.width = f.attr_number("/", "width", 1e-3, 16, false);
  h.model.stem = attr_choice(f, "stem", {"cifar", "imagenet"});
  h.model.normalize = attr_choice(f, "normalize", {"none", "cifar10", "cifar100", "imagenet"});
  if (h.model.variant == "moe") {
    h.model.experts = static_cast<int>(f.attr_number("/", "experts", 1, 64, true));
    h.model.routing = attr_choice(f, "routing", {"layer", "global"});
    // Checkpoints from before router_input existed routed on the plain pool.
    if (f.has_attr("/", "router_input"))
      h.model.router_input = attr_choice(f, "router_input", {"pooled", "standardized"});
  }
  if (h.model.variant == "sparse") {
    h.model.keep = f.attr_number("/", "keep", 0, 1, false);
    ADVMOE_CHECK(h.model.keep > 0, "'" << path << "': attribute 'keep' must be in (0, 1]");
    h.model.mask = attr_choice(f, "mask", {"structured", "unstructured"});
  }
  h.model.classes = static_cast<int>(f.attr_number("/", "classes", 2, 100000, true));
  if (f.has_attr("/", "dual_alpha")) h.dual_alpha = f.attr_number("/", "dual_alpha", 0, 1, false);
  std::vector<int64_t> chw = f.attr_ints("/", "input_shape");
  ADVMOE_CHECK(chw.size() == 3 && (chw[0] == 1 || chw[0] == 3) && chw[1] >= 1 && chw[1] <= 4096 &&
                   chw[2] >= 1 && chw[2] <= 4096,
               "'" << path << "': attribute 'input_shape' must be C, H, W with C 1 or 3 and H, W "
                   << "in [1, 4096]");
  h.model.image = Shape{chw[1], chw[2], chw[0]};
  h.state.dataset = f.attr_string("/", "dataset", 256);
  // Bounds keep the casts exact: doubles hold integers exactly up to 2^53.
  h.state.epoch = static_cast<int64_t>(f.attr_number("/", "epoch", 0, kMaxEpochs, true));
  h.state.step = static_cast<int64_t>(f.attr_number("/", "step", 0, 9007199254740992.0, true));
  h.state.seed = static_cast<uint64_t>(f.attr_number("/", "seed", 0, 9007199254740992.0, true));
  h.state.config_ini = f.attr_string("/", "config");
  if (f.has_attr("/", "final")) h.state.final_json = f.attr_string("/", "final");
  h.state.metrics = read_metrics(f, h.state.epoch);
  read_busiest(f, h.state.metrics);
  return h;
}

void check_same_model(const std::string& path, const ModelConfig& h, const ModelConfig& c) {
  std::ostringstream diff;
  auto field = [&](const char* name, const auto& stored, const auto& wanted) {
    if (!(stored == wanted))
      diff << "; " << name << " " << stored << " here, " << wanted << " wanted";
  };
  field("arch", h.arch, c.arch);
  field("variant", h.variant, c.variant);
  field("ratio", h.ratio, c.ratio);
  if (h.variant != "sdense" && h.variant != "moe") field("width", h.width, c.width);
  if (h.variant == "moe" && c.variant == "moe") {
    field("experts", h.experts, c.experts);
    field("routing", h.routing, c.routing);
    field("router_input", h.router_input, c.router_input);
  }
  if (h.variant == "sparse" && c.variant == "sparse") {
    field("keep", h.keep, c.keep);
    field("mask", h.mask, c.mask);
  }
  field("classes", h.classes, c.classes);
  field("normalize", h.normalize, c.normalize);
  field("input (H, W, C)", h.image, c.image);
  ADVMOE_CHECK(diff.str().empty(),
               "'" << path << "' holds another model than the one requested" << diff.str());
}

namespace {

// Every value finite and below kMaxTensorMagnitude; BN running variances not negative (zero is
// a legitimate state: a channel that is constant over the data, and BN adds epsilon).
void check_values(const std::string& path, const std::string& dataset, const Tensor& t) {
  const float* v = t.data<float>();
  const double bound =
      dataset.rfind("/buffers/", 0) == 0 ? kMaxBufferMagnitude : kMaxWeightMagnitude;
  const bool variance = dataset.size() > 12 && dataset.rfind("running_var") == dataset.size() - 11;
  for (int64_t i = 0; i < t.numel(); ++i) {
    ADVMOE_CHECK(std::isfinite(v[i]) && std::fabs(v[i]) < bound,
                 "'" << path << "' " << dataset << " holds " << v[i] << " at element " << i
                     << "; loaded " << (bound == kMaxWeightMagnitude ? "weights" : "buffers")
                     << " must be finite and below " << bound
                     << " in magnitude (damaged or diverged checkpoint)");
    ADVMOE_CHECK(!variance || v[i] >= 0, "'" << path << "' " << dataset
                                             << " holds the negative variance " << v[i]
                                             << " at element " << i);
  }
}

}  // namespace

namespace {

// One f32 tensor of the model's shape (ours), checked for shape, type, storage and values before
// and after it is read.
Tensor read_checked(const H5File& f, const std::string& path, const std::string& ds,
                    const Shape& ours, bool checksums) {
  ADVMOE_CHECK(f.exists(ds), "'" << path << "' lacks dataset " << ds);
  Shape want = to_pytorch_layout(Tensor::zeros(ours, DType::F32)).shape();
  Shape got = f.shape_of(ds);
  ADVMOE_CHECK(got == want,
               "'" << path << "' " << ds << " has shape " << got << ", the model needs " << want);
  DType type = f.dtype_of(ds);
  ADVMOE_CHECK(type == DType::F32,
               "'" << path << "' " << ds << " is " << dtype_name(type) << ", expected f32");
  f.check_storage(ds, checksums);
  Tensor t = from_pytorch_layout(f.read(ds, want.numel()));
  check_values(path, ds, t);
  return t;
}

// Checkpoints from before the routers' balancing offsets (training/route_balance.h) lack the
// Buffers "<router>.balance" and ".balance_train": those models routed with offset zero, which the
// variables hold.
bool written_before_balancing(const H5File& f, const std::string& group, const ValueInfo& v) {
  auto ends_with = [&](const std::string& suffix) {
    return v.name.size() > suffix.size() &&
           v.name.compare(v.name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  const bool offset =
      v.role == Role::Buffer && (ends_with(".balance") || ends_with(".balance_train"));
  return offset && !f.exists(group + "/" + v.name);
}

}  // namespace

void load_checkpoint_tensors(const std::string& path, const Model& model, Variables& variables,
                             bool with_optimizer) {
  CheckpointHeader h = read_checkpoint_header(path);
  check_same_model(path, h.model, model.config);
  H5File f = H5File::open(path);
  const bool checksums = h.format_version >= 2;
  // Shape, type and storage are checked before anything is allocated or read.
  auto load = [&](const std::string& ds, const Shape& ours) {
    return read_checked(f, path, ds, ours, checksums);
  };
  // Every group must hold exactly the model's tensors.
  auto load_group = [&](const std::string& group, Role role, const std::string& prefix) {
    ADVMOE_CHECK(f.is_group(group), "'" << path << "' lacks the group " << group);
    std::set<std::string> expected;
    for (const ValueInfo* v : values_with_role(model, role)) {
      expected.insert(v->name);
      if (written_before_balancing(f, group, *v)) continue;
      variables.set(prefix + v->name, load(group + "/" + v->name, v->shape));
    }
    for (const std::string& name : f.list(group))
      ADVMOE_CHECK(expected.count(name), "'" << path << "' has unexpected dataset " << group << "/"
                                             << name << " (not a " << role_name(role) << " of "
                                             << model.config.arch << ")");
  };
  load_group("/params", Role::Param, "");
  load_group("/buffers", Role::Buffer, "");
  if (!with_optimizer) return;
  // Momentum: every group the file has; a group the run trains must be there (a run with frozen
  // groups has none for them).
  for (const ValueInfo* p : values_with_role(model, Role::Param)) {
    const std::string g = "/optimizer/" + p->group + "/momentum";
    const bool stored = f.is_group(g) && f.exists(g + "/" + p->name);
    ADVMOE_CHECK(stored || !variables.has("momentum/" + p->name),
                 "'" << path << "' lacks optimizer state " << g << "/" << p->name);
    if (stored) variables.set("momentum/" + p->name, load(g + "/" + p->name, p->shape));
  }
}

}  // namespace advmoe

namespace advmoe {

std::vector<std::string> load_initial_parameters(const std::string& path, const Model& model,
                                                 Variables& variables) {
  CheckpointHeader h = read_checkpoint_header(path);
  const ModelConfig& c = model.config;
  const bool from_dense = h.model.variant == "dense" && c.variant == "sparse";
  ADVMOE_CHECK(h.model.variant == c.variant || from_dense,
               "'" << path << "' holds a " << h.model.variant << " model; --init-from needs one of "
                   << "the same variant (" << c.variant << ")"
                   << (c.variant == "sparse" ? " or a dense one to prune" : ""));
  ModelConfig wanted = c;
  wanted.ratio = c.variant == "sparse" ? h.model.ratio : c.ratio;  // sparse: the keep ratio's basis
  if (from_dense) {
    wanted.variant = "dense";
    wanted.width = 1;
  }
  check_same_model(path, h.model, wanted);
  H5File f = H5File::open(path);
  const bool checksums = h.format_version >= 2;
  std::vector<std::string> derived;
  for (Role role : {Role::Param, Role::Buffer}) {
    const std::string group = role == Role::Param ? "/params" : "/buffers";
    ADVMOE_CHECK(f.is_group(group), "'" << path << "' lacks the group " << group);
    std::set<std::string> expected;
    for (const ValueInfo* v : values_with_role(model, role)) {
      expected.insert(v->name);
      if (from_dense && v->group == "scores") {
        derived.push_back(v->name);
        continue;
      }
      if (written_before_balancing(f, group, *v)) continue;
      variables.set(v->name, read_checked(f, path, group + "/" + v->name, v->shape, checksums));
    }
    for (const std::string& name : f.list(group))
      ADVMOE_CHECK(expected.count(name), "'" << path << "' has dataset " << group << "/" << name
                                             << ", which " << c.arch << " " << c.variant
                                             << " does not have (another architecture?)");
  }
  // HYDRA: the scores start from the pretrained weights they will mask.
  for (const std::string& name : derived) {
    const std::string& weight = model.inits.at(name).source;
    variables.set(name, hydra_scores(host_copy(variables, weight)));
  }
  return derived;
}

}  // namespace advmoe
