// The /metrics and /metrics_busiest tables of a checkpoint (training/checkpoint_metrics.h).
#include "training/checkpoint_metrics.h"

#include <cmath>

#include "runtime/error.h"

namespace advmoe {

namespace {

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

}  // namespace

void write_metrics(H5File& f, const std::vector<EpochMetrics>& metrics) {
  std::vector<MetricsRow> rows;
  for (const EpochMetrics& m : metrics)
    rows.push_back({m.epoch, m.train_loss, m.train_accuracy, m.test_loss, m.test_accuracy,
                    m.seconds, m.images_per_second, m.robust_accuracy});
  hsize_t n = rows.size();
  H5Handle type = metrics_type();
  H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (n > 0) {
    H5Pset_chunk(dcpl.id(), 1, &n);
    H5Pset_fletcher32(dcpl.id());
  }
  H5Handle d(
      H5Dcreate2(f.id(), "/metrics", type.id(), space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
      H5Dclose);
  ADVMOE_CHECK(d.valid() && (n == 0 || H5Dwrite(d.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                                rows.data()) >= 0),
               "cannot write '" << f.path() << "' /metrics");
}

std::vector<EpochMetrics> read_metrics(const H5File& f, int64_t epochs) {
  if (!f.exists("/metrics")) return {};
  H5Handle d(H5Dopen2(f.id(), "/metrics", H5P_DEFAULT), H5Dclose);
  ADVMOE_CHECK(d.valid(), "'" << f.path() << "' /metrics is not a readable dataset");
  H5Handle space(H5Dget_space(d.id()), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space.id());
  ADVMOE_CHECK(n >= 0 && n <= epochs && H5Sget_simple_extent_ndims(space.id()) == 1,
               "'" << f.path() << "' /metrics has " << n << " rows; a checkpoint of " << epochs
                   << " completed epochs has at most " << epochs << " (one per epoch)");
  if (n > 0) f.check_storage("/metrics", false);
  MetricsRow unmeasured{};
  unmeasured.robust_accuracy = std::nan("");
  std::vector<MetricsRow> rows(static_cast<size_t>(n), unmeasured);
  H5Handle file_type(H5Dget_type(d.id()), H5Tclose);
  ADVMOE_CHECK(H5Tget_class(file_type.id()) == H5T_COMPOUND,
               "'" << f.path() << "' /metrics is not a compound table");
  H5Handle type = metrics_type(H5Tget_member_index(file_type.id(), "robust_accuracy") >= 0);
  // HDF5's compound conversion trusts the stored member layout (a corrupted offset made it
  // write out of bounds, found by fuzz_checkpoint): every member must be one of ours, a 4- or
  // 8-byte number lying inside the stored row.
  const int members = H5Tget_nmembers(file_type.id());
  const size_t row_size = H5Tget_size(file_type.id());
  ADVMOE_CHECK(members >= 1 && members <= 8 && row_size <= 256,
               "'" << f.path() << "' /metrics has an unexpected row type (" << members
                   << " members, " << row_size << " bytes)");
  for (int i = 0; i < members; ++i) {
    H5Handle member(H5Tget_member_type(file_type.id(), static_cast<unsigned>(i)), H5Tclose);
    char* name = H5Tget_member_name(file_type.id(), static_cast<unsigned>(i));
    std::string member_name = name ? name : "";
    H5free_memory(name);
    size_t offset = H5Tget_member_offset(file_type.id(), static_cast<unsigned>(i));
    size_t size = member.valid() ? H5Tget_size(member.id()) : 0;
    H5T_class_t cls = member.valid() ? H5Tget_class(member.id()) : H5T_NO_CLASS;
    ADVMOE_CHECK(H5Tget_member_index(type.id(), member_name.c_str()) >= 0 &&
                     (cls == H5T_FLOAT || cls == H5T_INTEGER) && (size == 4 || size == 8) &&
                     offset + size <= row_size,
                 "'" << f.path() << "' /metrics column " << i << " ('" << member_name
                     << "') is not a 4- or 8-byte number inside the row");
  }
  ADVMOE_CHECK(
      rows.empty() || H5Dread(d.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()) >= 0,
      "cannot read '" << f.path() << "' /metrics");
  std::vector<EpochMetrics> out;
  for (const MetricsRow& r : rows)
    out.push_back({r.epoch,
                   r.train_loss,
                   r.train_accuracy,
                   r.test_loss,
                   r.test_accuracy,
                   r.seconds,
                   r.images_per_second,
                   r.robust_accuracy,
                   {},
                   {}});  // shares: read_busiest
  return out;
}

// /metrics_busiest [epochs, 2 L] f32: per epoch, each of the L MoE layers' busiest-expert share
// of the clean test images, then of the attacked ones (NaN: not measured). MoE runs only.
void write_busiest(H5File& f, const std::vector<EpochMetrics>& metrics) {
  if (metrics.empty() || metrics.back().busiest_clean.empty()) return;
  const int64_t layers = static_cast<int64_t>(metrics.back().busiest_clean.size());
  Tensor t = Tensor::zeros(Shape{static_cast<int64_t>(metrics.size()), 2 * layers}, DType::F32);
  float* out = t.data<float>();
  for (const EpochMetrics& m : metrics)
    for (const std::vector<double>* shares : {&m.busiest_clean, &m.busiest_adversarial})
      for (int64_t i = 0; i < layers; ++i)
        *out++ = i < static_cast<int64_t>(shares->size()) ? static_cast<float>((*shares)[i])
                                                          : std::nanf("");
  f.write("/metrics_busiest", t);
}

// Older checkpoints and non-MoE runs have no table: the shares stay empty.
void read_busiest(const H5File& f, std::vector<EpochMetrics>& metrics) {
  if (!f.exists("/metrics_busiest")) return;
  Shape shape = f.shape_of("/metrics_busiest");
  ADVMOE_CHECK(shape.rank() == 2 && shape[0] == static_cast<int64_t>(metrics.size()) &&
                   shape[1] % 2 == 0 && shape[1] <= 2 * 4096 &&
                   f.dtype_of("/metrics_busiest") == DType::F32,
               "'" << f.path() << "' /metrics_busiest has shape " << shape << ", expected ["
                   << metrics.size() << ", 2 * MoE layers] of f32");
  Tensor t = f.read("/metrics_busiest", shape.numel());
  const float* in = t.data<float>();
  const int64_t layers = shape[1] / 2;
  for (EpochMetrics& m : metrics)
    for (std::vector<double>* shares : {&m.busiest_clean, &m.busiest_adversarial})
      for (int64_t i = 0; i < layers; ++i) {
        const float share = *in++;
        ADVMOE_CHECK(
            std::isnan(share) || (share >= 0 && share <= 1),
            "'" << f.path() << "' /metrics_busiest holds " << share << ", not a share in [0, 1]");
        shares->push_back(share);
      }
}

}  // namespace advmoe
