// Checkpoint writing and validated reading.
#include "training/checkpoint.h"

#include <cmath>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "graph/autodiff.h"
#include "runtime/error.h"
#include "training/hdf5_file.h"

namespace advmoe {

namespace {

constexpr const char* kFormatName = "advmoe-checkpoint";

// One row of the /metrics compound table.
struct MetricsRow {
  int32_t epoch;
  double train_loss, train_accuracy, test_loss, test_accuracy, seconds, images_per_second;
  double robust_accuracy;
};

// `with_robust` false reads tables written before robust_accuracy existed.
H5Handle metrics_type(bool with_robust = true) {
  H5Handle t(H5Tcreate(H5T_COMPOUND, sizeof(MetricsRow)), H5Tclose);
  H5Tinsert(t.id(), "epoch", HOFFSET(MetricsRow, epoch), H5T_NATIVE_INT32);
  H5Tinsert(t.id(), "train_loss", HOFFSET(MetricsRow, train_loss), H5T_NATIVE_DOUBLE);
  H5Tinsert(t.id(), "train_accuracy", HOFFSET(MetricsRow, train_accuracy), H5T_NATIVE_DOUBLE);
  H5Tinsert(t.id(), "test_loss", HOFFSET(MetricsRow, test_loss), H5T_NATIVE_DOUBLE);
  H5Tinsert(t.id(), "test_accuracy", HOFFSET(MetricsRow, test_accuracy), H5T_NATIVE_DOUBLE);
  H5Tinsert(t.id(), "seconds", HOFFSET(MetricsRow, seconds), H5T_NATIVE_DOUBLE);
  H5Tinsert(t.id(), "images_per_second", HOFFSET(MetricsRow, images_per_second), H5T_NATIVE_DOUBLE);
  if (with_robust)
    H5Tinsert(t.id(), "robust_accuracy", HOFFSET(MetricsRow, robust_accuracy), H5T_NATIVE_DOUBLE);
  return t;
}

void write_metrics(H5File& f, const std::vector<EpochMetrics>& metrics) {
  std::vector<MetricsRow> rows;
  for (const EpochMetrics& m : metrics)
    rows.push_back({m.epoch, m.train_loss, m.train_accuracy, m.test_loss, m.test_accuracy,
                    m.seconds, m.images_per_second, m.robust_accuracy});
  hsize_t n = rows.size();
  H5Handle type = metrics_type();
  H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  H5Handle d(
      H5Dcreate2(f.id(), "/metrics", type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose);
  ADVMOE_CHECK(d.valid() && (n == 0 || H5Dwrite(d.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                                rows.data()) >= 0),
               "cannot write '" << f.path() << "' /metrics");
}

std::vector<EpochMetrics> read_metrics(const H5File& f) {
  if (!f.exists("/metrics")) return {};
  H5Handle d(H5Dopen2(f.id(), "/metrics", H5P_DEFAULT), H5Dclose);
  H5Handle space(H5Dget_space(d.id()), H5Sclose);
  MetricsRow unmeasured{};
  unmeasured.robust_accuracy = std::nan("");
  std::vector<MetricsRow> rows(static_cast<size_t>(H5Sget_simple_extent_npoints(space.id())),
                               unmeasured);
  H5Handle file_type(H5Dget_type(d.id()), H5Tclose);
  H5Handle type = metrics_type(H5Tget_member_index(file_type.id(), "robust_accuracy") >= 0);
  ADVMOE_CHECK(
      rows.empty() || H5Dread(d.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()) >= 0,
      "cannot read '" << f.path() << "' /metrics");
  std::vector<EpochMetrics> out;
  for (const MetricsRow& r : rows)
    out.push_back({r.epoch, r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds,
                   r.images_per_second, r.robust_accuracy});
  return out;
}

Tensor host_copy(const Variables& v, const std::string& name) {
  const Tensor& t = v.get(name);
  Tensor host = Tensor::zeros(t.shape(), t.dtype());
  v.backend().copy(host, t);
  return host;
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  ADVMOE_CHECK(fd >= 0, "cannot open '" << path << "' to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  ADVMOE_CHECK(rc == 0, "fsync of '" << path << "' failed");
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
  // Unique temp name in the same folder, so rename() is atomic and a crash leaves `path` intact.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    H5File f = H5File::create(tmp);
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
    f.set_attr("/", "classes", static_cast<double>(c.classes));
    f.set_attr("/", "input_shape", std::vector<int64_t>{c.image[2], c.image[0], c.image[1]});
    f.set_attr("/", "dataset", state.dataset);
    f.set_attr("/", "epoch", static_cast<double>(state.epoch));
    f.set_attr("/", "step", static_cast<double>(state.step));
    f.set_attr("/", "seed", static_cast<double>(state.seed));
    f.set_attr("/", "config", state.config_ini);
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
    f.flush();
  }
  fsync_path(tmp, O_RDONLY);
  ADVMOE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0,
               "cannot rename '" << tmp << "' to '" << path << "'");
  std::string dir = std::filesystem::path(path).parent_path().string();
  fsync_path(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

CheckpointHeader read_checkpoint_header(const std::string& path) {
  H5File f = H5File::open(path);
  ADVMOE_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == kFormatName,
               "'" << path
                   << "' is an HDF5 file but not an advmoe checkpoint (no format attribute '"
                   << kFormatName << "')");
  int version = static_cast<int>(f.attr_double("/", "format_version"));
  ADVMOE_CHECK(version >= 1 && version <= kCheckpointFormatVersion,
               "'" << path << "' has checkpoint format version " << version
                   << "; this advmoe reads "
                   << "versions 1 to " << kCheckpointFormatVersion);
  CheckpointHeader h;
  h.model.arch = f.attr_string("/", "arch");
  h.model.variant = f.attr_string("/", "variant");
  h.model.ratio = f.attr_double("/", "ratio");
  h.model.width = f.attr_double("/", "width");
  h.model.stem = f.attr_string("/", "stem");
  h.model.normalize = f.attr_string("/", "normalize");
  if (h.model.variant == "moe") {
    h.model.experts = static_cast<int>(f.attr_double("/", "experts"));
    h.model.routing = f.attr_string("/", "routing");
  }
  h.model.classes = static_cast<int>(f.attr_double("/", "classes"));
  std::vector<int64_t> chw = f.attr_ints("/", "input_shape");
  ADVMOE_CHECK(chw.size() == 3, "'" << path << "': input_shape must have 3 entries (C, H, W)");
  h.model.image = Shape{chw[1], chw[2], chw[0]};
  h.state.dataset = f.attr_string("/", "dataset");
  h.state.epoch = static_cast<int64_t>(f.attr_double("/", "epoch"));
  h.state.step = static_cast<int64_t>(f.attr_double("/", "step"));
  h.state.seed = static_cast<uint64_t>(f.attr_double("/", "seed"));
  h.state.config_ini = f.attr_string("/", "config");
  h.state.metrics = read_metrics(f);
  return h;
}

void load_checkpoint_tensors(const std::string& path, const Model& model, Variables& variables,
                             bool with_optimizer) {
  CheckpointHeader h = read_checkpoint_header(path);
  const ModelConfig& c = model.config;
  ADVMOE_CHECK(h.model.arch == c.arch && h.model.variant == c.variant && h.model.ratio == c.ratio &&
                   h.model.width == c.width && h.model.classes == c.classes &&
                   h.model.normalize == c.normalize && h.model.image == c.image,
               "'" << path << "' holds " << h.model.arch << " (" << h.model.variant << ", r "
                   << h.model.ratio << ", width " << h.model.width << ", " << h.model.classes
                   << " classes, input " << h.model.image << "), not the requested " << c.arch
                   << " (" << c.variant << ", r " << c.ratio << ", width " << c.width << ", "
                   << c.classes << " classes, input " << c.image << ")");
  H5File f = H5File::open(path);
  // Every group must hold exactly the model's tensors.
  auto load_group = [&](const std::string& group, Role role, const std::string& prefix) {
    std::set<std::string> expected;
    for (const ValueInfo* v : values_with_role(model, role)) {
      expected.insert(v->name);
      std::string ds = group + "/" + v->name;
      ADVMOE_CHECK(f.exists(ds), "'" << path << "' lacks dataset " << ds);
      Shape want = to_pytorch_layout(Tensor::zeros(v->shape, DType::F32)).shape();
      ADVMOE_CHECK(f.shape_of(ds) == want, "'" << path << "' " << ds << " has shape "
                                               << f.shape_of(ds) << ", the model needs " << want);
      ADVMOE_CHECK(f.dtype_of(ds) == DType::F32, "'" << path << "' " << ds << " is "
                                                     << dtype_name(f.dtype_of(ds))
                                                     << ", expected f32");
      variables.set(prefix + v->name, from_pytorch_layout(f.read(ds)));
    }
    for (const std::string& name : f.list(group))
      ADVMOE_CHECK(expected.count(name), "'" << path << "' has unexpected dataset " << group << "/"
                                             << name << " (not a " << role_name(role) << " of "
                                             << c.arch << ")");
  };
  load_group("/params", Role::Param, "");
  load_group("/buffers", Role::Buffer, "");
  if (!with_optimizer) return;
  std::set<std::string> groups;
  for (const ValueInfo* p : values_with_role(model, Role::Param)) groups.insert(p->group);
  for (const std::string& group : groups) {
    std::string g = "/optimizer/" + group + "/momentum";
    ADVMOE_CHECK(f.exists(g), "'" << path << "' lacks optimizer state " << g);
    for (const ValueInfo* p : values_with_role(model, Role::Param)) {
      if (p->group != group) continue;
      std::string ds = g + "/" + p->name;
      ADVMOE_CHECK(f.exists(ds), "'" << path << "' lacks dataset " << ds);
      Tensor m = from_pytorch_layout(f.read(ds));
      ADVMOE_CHECK(m.shape() == p->shape && m.dtype() == DType::F32,
                   "'" << path << "' " << ds << " does not match parameter " << p->name);
      variables.set("momentum/" + p->name, m);
    }
  }
}

}  // namespace advmoe
