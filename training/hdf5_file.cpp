// HDF5 C API calls behind H5File, with errors that name file and object.
#include "training/hdf5_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "runtime/error.h"
#include "runtime/files.h"
#include "training/hdf5_probe.h"

namespace advmoe {

namespace {

// HDF5 prints its error stack to stderr by default; our messages say what matters.
void silence_hdf5() {
  static bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

hid_t native_type(DType t) {
  switch (t) {
    case DType::F32:
      return H5T_NATIVE_FLOAT;
    case DType::F64:
      return H5T_NATIVE_DOUBLE;
    case DType::I32:
      return H5T_NATIVE_INT32;
  }
  return H5T_NATIVE_FLOAT;
}

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "float";
    case H5T_STRING:
      return "string";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_COMPOUND:
      return "compound";
    case H5T_REFERENCE:
      return "reference";
    case H5T_ENUM:
      return "enum";
    case H5T_VLEN:
      return "variable-length";
    case H5T_ARRAY:
      return "array";
    default:
      return "unknown";
  }
}

// The stored type is exactly one of these standard layouts (H5Tequal compares sign, exponent and
// mantissa positions and sizes, the exponent bias, normalization and padding).
bool equal_to_any(hid_t type, std::initializer_list<hid_t> candidates) {
  for (hid_t c : candidates)
    if (H5Tequal(type, c) > 0) return true;
  return false;
}

}  // namespace

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

void H5Handle::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = -1;
}

H5File H5File::create(const std::string& path) {
  silence_hdf5();
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ADVMOE_CHECK(f >= 0, "cannot create HDF5 file '" << path << "'");
  return H5File(path, H5Handle(f, H5Fclose));
}

H5File H5File::open(const std::string& path) {
  silence_hdf5();
  require_regular_file(path, "checkpoint");
  if (!hdf5_probe_running()) probe_hdf5_in_child(path);
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  ADVMOE_CHECK(is_hdf5 > 0, "'" << path << "' is "
                                << (is_hdf5 < 0 ? "missing or unreadable" : "not an HDF5 file"));
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ADVMOE_CHECK(f >= 0, "cannot open '" << path << "': truncated or corrupted HDF5 file");
  return H5File(path, H5Handle(f, H5Fclose));
}

void H5File::flush() {
  ADVMOE_CHECK(H5Fflush(file_.id(), H5F_SCOPE_GLOBAL) >= 0, "cannot flush '" << path_ << "'");
}

void H5File::make_group(const std::string& group) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = group.find('/', pos + 1);
    std::string prefix = group.substr(0, pos);
    if (prefix.empty() || exists(prefix)) continue;
    hid_t g = H5Gcreate2(file_.id(), prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ADVMOE_CHECK(g >= 0, "cannot create group " << where(prefix));
    H5Gclose(g);
  }
}

bool H5File::exists(const std::string& object) const {
  if (object == "/") return true;
  // Check every prefix: H5Lexists fails on a missing intermediate group.
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = object.find('/', pos + 1);
    std::string prefix = object.substr(0, pos);
    if (H5Lexists(file_.id(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

std::vector<std::string> H5File::list(const std::string& group) const {
  H5Handle g(H5Gopen2(file_.id(), group.c_str(), H5P_DEFAULT), H5Gclose);
  ADVMOE_CHECK(g.valid(), "missing group " << where(group));
  std::vector<std::string> names;
  H5Literate(
      g.id(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  std::sort(names.begin(), names.end());
  return names;
}

void H5File::write(const std::string& dataset, const Tensor& host) {
  std::vector<hsize_t> dims(host.shape().dims().begin(), host.shape().dims().end());
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  // One chunk holding the whole tensor, so the Fletcher-32 checksum covers it; HDF5 limits a
  // chunk to 4 GiB, which the largest tensor (a WRN conv weight, 9 MiB) is far below.
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!dims.empty() && host.numel() > 0) {
    H5Pset_chunk(dcpl.id(), static_cast<int>(dims.size()), dims.data());
    H5Pset_fletcher32(dcpl.id());
  }
  H5Handle d(H5Dcreate2(file_.id(), dataset.c_str(), native_type(host.dtype()), space.id(),
                        H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
             H5Dclose);
  ADVMOE_CHECK(d.valid(), "cannot create dataset " << where(dataset));
  ADVMOE_CHECK(
      H5Dwrite(d.id(), native_type(host.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, host.raw()) >= 0,
      "cannot write dataset " << where(dataset));
}

H5Handle H5File::open_object(const std::string& object) const {
  ADVMOE_CHECK(exists(object), "missing " << where(object));
  H5Handle h(H5Oopen(file_.id(), object.c_str(), H5P_DEFAULT), H5Oclose);
  ADVMOE_CHECK(h.valid(), "cannot open " << where(object));
  return h;
}

H5Handle H5File::open_dataset(const std::string& dataset) const {
  H5Handle d(H5Dopen2(file_.id(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  ADVMOE_CHECK(d.valid(), (exists(dataset) ? "unreadable dataset (not a dataset, or corrupted "
                                             "metadata) "
                                           : "missing dataset ")
                              << where(dataset));
  return d;
}

Shape H5File::shape_of(const std::string& dataset) const {
  H5Handle d = open_dataset(dataset);
  H5Handle space(H5Dget_space(d.id()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  ADVMOE_CHECK(rank >= 0 && rank <= 8,
               "unreadable shape of " << where(dataset) << " (rank " << rank << ")");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  // The element count below 2^48 keeps numel() from overflowing int64 (and is far above any
  // real tensor).
  hsize_t numel = 1;
  for (hsize_t extent : dims) {
    ADVMOE_CHECK(
        extent < (hsize_t{1} << 48) && (extent == 0 || numel < (hsize_t{1} << 48) / extent),
        "dataset " << where(dataset) << " has an implausible shape (extent " << extent << ")");
    numel *= extent;
  }
  return Shape(std::vector<int64_t>(dims.begin(), dims.end()));
}

DType H5File::dtype_of(const std::string& dataset) const {
  H5Handle d = open_dataset(dataset);
  H5Handle type(H5Dget_type(d.id()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.id());
  size_t size = H5Tget_size(type.id());
  if (equal_to_any(type.id(), {H5T_IEEE_F32LE, H5T_IEEE_F32BE})) return DType::F32;
  if (equal_to_any(type.id(), {H5T_IEEE_F64LE, H5T_IEEE_F64BE})) return DType::F64;
  if (equal_to_any(type.id(), {H5T_STD_I32LE, H5T_STD_I32BE})) return DType::I32;
  ADVMOE_FAIL("dataset " << where(dataset) << " has an unsupported element type: " << size
                         << "-byte " << class_name(cls)
                         << (cls == H5T_FLOAT ? " that is not IEEE 754 (corrupted exponent bias or "
                                                "field layout?)"
                                              : "")
                         << "; advmoe reads IEEE float32, float64 and 32-bit integers");
}

bool H5File::is_group(const std::string& object) const {
  if (!exists(object)) return false;
  H5O_info_t info;
  return H5Oget_info_by_name(file_.id(), object.c_str(), &info, H5P_DEFAULT) >= 0 &&
         info.type == H5O_TYPE_GROUP;
}

void H5File::check_storage(const std::string& dataset, bool need_checksum) const {
  H5Handle d = open_dataset(dataset);
  H5Handle dcpl(H5Dget_create_plist(d.id()), H5Pclose);
  ADVMOE_CHECK(dcpl.valid(), "unreadable storage properties of dataset " << where(dataset));
  H5D_layout_t layout = H5Pget_layout(dcpl.id());
  ADVMOE_CHECK(layout != H5D_VIRTUAL,
               "dataset " << where(dataset)
                          << " is a virtual dataset (its data would come from other files); "
                             "advmoe reads only data stored inside the checkpoint");
  ADVMOE_CHECK(H5Pget_external_count(dcpl.id()) == 0,
               "dataset " << where(dataset)
                          << " uses external storage (its data would come from another file); "
                             "advmoe reads only data stored inside the checkpoint");
  ADVMOE_CHECK(layout == H5D_CONTIGUOUS || layout == H5D_CHUNKED || layout == H5D_COMPACT,
               "dataset " << where(dataset) << " has an unknown storage layout");
  H5D_space_status_t status;
  ADVMOE_CHECK(H5Dget_space_status(d.id(), &status) >= 0 &&
                   (status != H5D_SPACE_STATUS_NOT_ALLOCATED || shape_of(dataset).numel() == 0),
               "dataset " << where(dataset)
                          << " has no data written (only its fill value): truncated checkpoint?");
  if (need_checksum) {
    unsigned flags = 0;
    ADVMOE_CHECK(H5Pget_filter_by_id2(dcpl.id(), H5Z_FILTER_FLETCHER32, &flags, nullptr, nullptr, 0,
                                      nullptr, nullptr) >= 0 ||
                     shape_of(dataset).rank() == 0 || shape_of(dataset).numel() == 0,
                 "dataset " << where(dataset) << " has no Fletcher-32 checksum, which format "
                            << "version 2 checkpoints carry on every tensor");
  }
}

Tensor H5File::read(const std::string& dataset, int64_t max_elements) const {
  Shape shape = shape_of(dataset);
  DType dtype = dtype_of(dataset);
  check_storage(dataset, false);
  ADVMOE_CHECK(shape.numel() <= max_elements, "dataset " << where(dataset) << " has shape " << shape
                                                         << ", more than the " << max_elements
                                                         << " elements allowed");
  Tensor t = Tensor::zeros(shape, dtype);
  H5Handle d = open_dataset(dataset);
  ADVMOE_CHECK(H5Dread(d.id(), native_type(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()) >= 0,
               "cannot read dataset " << where(dataset)
                                      << " (truncated or corrupted file, or a checksum mismatch)");
  return t;
}

namespace {
void write_attr(hid_t object, const std::string& name, hid_t type, hid_t space, const void* data,
                const std::string& where) {
  if (H5Aexists(object, name.c_str()) > 0) H5Adelete(object, name.c_str());
  H5Handle a(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  ADVMOE_CHECK(a.valid() && H5Awrite(a.id(), type, data) >= 0,
               "cannot write attribute '" << name << "' of " << where);
}
}  // namespace

void H5File::set_attr(const std::string& object, const std::string& name,
                      const std::string& value) {
  H5Handle o = open_object(object);
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.id(), std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.id(), H5T_STR_NULLPAD);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(o.id(), name, type.id(), space.id(), value.data(), where(object));
}

void H5File::set_attr(const std::string& object, const std::string& name, double value) {
  H5Handle o = open_object(object);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(o.id(), name, H5T_NATIVE_DOUBLE, space.id(), &value, where(object));
}

void H5File::set_attr(const std::string& object, const std::string& name,
                      const std::vector<int64_t>& value) {
  H5Handle o = open_object(object);
  hsize_t n = value.size();
  H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  write_attr(o.id(), name, H5T_NATIVE_INT64, space.id(), value.data(), where(object));
}

bool H5File::has_attr(const std::string& object, const std::string& name) const {
  if (!exists(object)) return false;
  return H5Aexists_by_name(file_.id(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

H5Handle H5File::open_attr(const std::string& object, const std::string& name) const {
  ADVMOE_CHECK(has_attr(object, name), "missing attribute " << attr_where(object, name));
  H5Handle a(H5Aopen_by_name(file_.id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
  ADVMOE_CHECK(a.valid(), "cannot open attribute " << attr_where(object, name));
  return a;
}

std::string H5File::attr_where(const std::string& object, const std::string& name) const {
  return "'" + name + "' of " + where(object);
}

hssize_t H5File::attr_count(hid_t attr, H5T_class_t want, const std::string& object,
                            const std::string& name) const {
  H5Handle type(H5Aget_type(attr), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.id());
  bool numeric = want == H5T_FLOAT && (cls == H5T_FLOAT || cls == H5T_INTEGER);
  ADVMOE_CHECK(cls == want || numeric, "attribute "
                                           << attr_where(object, name) << " is a "
                                           << class_name(cls) << ", expected a "
                                           << (want == H5T_FLOAT ? "number" : class_name(want)));
  H5Handle space(H5Aget_space(attr), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space.id());
  ADVMOE_CHECK(n >= 0, "unreadable shape of attribute " << attr_where(object, name));
  return n;
}

std::string H5File::attr_string(const std::string& object, const std::string& name,
                                size_t max_bytes) const {
  H5Handle a = open_attr(object, name);
  hssize_t n = attr_count(a.id(), H5T_STRING, object, name);
  ADVMOE_CHECK(n == 1, "attribute " << attr_where(object, name) << " holds " << n
                                    << " strings, expected one");
  H5Handle type(H5Aget_type(a.id()), H5Tclose);
  ADVMOE_CHECK(!H5Tis_variable_str(type.id()),
               "attribute " << attr_where(object, name) << " is not a fixed-length string");
  size_t size = H5Tget_size(type.id());
  ADVMOE_CHECK(size <= max_bytes, "attribute " << attr_where(object, name) << " is a string of "
                                               << size << " bytes, more than the " << max_bytes
                                               << " allowed");
  // Read with a memory type of the stored size: HDF5 writes exactly `size` bytes.
  std::string value(size, '\0');
  H5Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(memory.id(), std::max<size_t>(size, 1));
  H5Tset_strpad(memory.id(), H5T_STR_NULLPAD);
  ADVMOE_CHECK(size == 0 || H5Aread(a.id(), memory.id(), value.data()) >= 0,
               "cannot read attribute " << attr_where(object, name));
  return value.substr(0, value.find('\0'));
}

double H5File::attr_double(const std::string& object, const std::string& name) const {
  H5Handle a = open_attr(object, name);
  hssize_t n = attr_count(a.id(), H5T_FLOAT, object, name);
  ADVMOE_CHECK(n == 1, "attribute " << attr_where(object, name) << " holds " << n
                                    << " values, expected one number");
  double value = 0;
  ADVMOE_CHECK(H5Aread(a.id(), H5T_NATIVE_DOUBLE, &value) >= 0,
               "attribute " << attr_where(object, name) << " is not a number");
  return value;
}

double H5File::attr_number(const std::string& object, const std::string& name, double lo, double hi,
                           bool integral) const {
  double v = attr_double(object, name);
  ADVMOE_CHECK(std::isfinite(v) && v >= lo && v <= hi && (!integral || v == std::floor(v)),
               "attribute " << attr_where(object, name) << " is " << v << "; it must be "
                            << (integral ? "an integer" : "a number") << " in [" << lo << ", " << hi
                            << "]");
  return v;
}

std::vector<int64_t> H5File::attr_ints(const std::string& object, const std::string& name,
                                       size_t max_count) const {
  H5Handle a = open_attr(object, name);
  hssize_t n = attr_count(a.id(), H5T_INTEGER, object, name);
  ADVMOE_CHECK(n >= 1 && static_cast<size_t>(n) <= max_count,
               "attribute " << attr_where(object, name) << " holds " << n
                            << " integers, expected 1 to " << max_count);
  std::vector<int64_t> value(static_cast<size_t>(n));
  ADVMOE_CHECK(H5Aread(a.id(), H5T_NATIVE_INT64, value.data()) >= 0,
               "attribute " << attr_where(object, name) << " is not an integer array");
  return value;
}

namespace {

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  ADVMOE_CHECK(fd >= 0, "cannot open '" << path << "' to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  ADVMOE_CHECK(rc == 0, "fsync of '" << path << "' failed");
}

}  // namespace

void write_hdf5_atomically(const std::string& path, const std::function<void(H5File&)>& fill) {
  // Unique temp name in the same folder, so rename() is atomic and a crash leaves `path` intact.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    H5File f = H5File::create(tmp);
    fill(f);
    f.flush();
  }
  fsync_path(tmp, O_RDONLY);
  ADVMOE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0,
               "cannot rename '" << tmp << "' to '" << path << "'");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  fsync_path(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace advmoe
