// HDF5 C API calls behind H5File, with errors that name file and object.
#include "training/hdf5_file.h"

#include <algorithm>

#include "runtime/error.h"

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
  H5Handle d(H5Dcreate2(file_.id(), dataset.c_str(), native_type(host.dtype()), space.id(),
                        H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
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

Shape H5File::shape_of(const std::string& dataset) const {
  H5Handle d(H5Dopen2(file_.id(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  ADVMOE_CHECK(d.valid(), "missing dataset " << where(dataset));
  H5Handle space(H5Dget_space(d.id()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  ADVMOE_CHECK(rank >= 0, "unreadable shape of " << where(dataset));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return Shape(std::vector<int64_t>(dims.begin(), dims.end()));
}

DType H5File::dtype_of(const std::string& dataset) const {
  H5Handle d(H5Dopen2(file_.id(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  ADVMOE_CHECK(d.valid(), "missing dataset " << where(dataset));
  H5Handle type(H5Dget_type(d.id()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.id());
  size_t size = H5Tget_size(type.id());
  if (cls == H5T_FLOAT && size == 4) return DType::F32;
  if (cls == H5T_FLOAT && size == 8) return DType::F64;
  if (cls == H5T_INTEGER && size == 4) return DType::I32;
  ADVMOE_FAIL("dataset " << where(dataset) << " has an unsupported element type (class " << cls
                         << ", " << size << " bytes)");
}

Tensor H5File::read(const std::string& dataset) const {
  Tensor t = Tensor::zeros(shape_of(dataset), dtype_of(dataset));
  H5Handle d(H5Dopen2(file_.id(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  ADVMOE_CHECK(H5Dread(d.id(), native_type(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()) >= 0,
               "cannot read dataset " << where(dataset) << " (truncated or corrupted file?)");
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
  ADVMOE_CHECK(has_attr(object, name), "missing attribute '" << name << "' of " << where(object));
  H5Handle a(H5Aopen_by_name(file_.id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
  ADVMOE_CHECK(a.valid(), "cannot open attribute '" << name << "' of " << where(object));
  return a;
}

std::string H5File::attr_string(const std::string& object, const std::string& name) const {
  H5Handle a = open_attr(object, name);
  H5Handle type(H5Aget_type(a.id()), H5Tclose);
  ADVMOE_CHECK(
      H5Tget_class(type.id()) == H5T_STRING && !H5Tis_variable_str(type.id()),
      "attribute '" << name << "' of " << where(object) << " is not a fixed-length string");
  std::string value(H5Tget_size(type.id()), '\0');
  ADVMOE_CHECK(H5Aread(a.id(), type.id(), value.data()) >= 0,
               "cannot read attribute '" << name << "' of " << where(object));
  return value.substr(0, value.find('\0'));
}

double H5File::attr_double(const std::string& object, const std::string& name) const {
  H5Handle a = open_attr(object, name);
  double value = 0;
  ADVMOE_CHECK(H5Aread(a.id(), H5T_NATIVE_DOUBLE, &value) >= 0,
               "attribute '" << name << "' of " << where(object) << " is not a number");
  return value;
}

std::vector<int64_t> H5File::attr_ints(const std::string& object, const std::string& name) const {
  H5Handle a = open_attr(object, name);
  H5Handle space(H5Aget_space(a.id()), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space.id());
  std::vector<int64_t> value(static_cast<size_t>(std::max<hssize_t>(n, 0)));
  ADVMOE_CHECK(H5Aread(a.id(), H5T_NATIVE_INT64, value.data()) >= 0,
               "attribute '" << name << "' of " << where(object) << " is not an integer array");
  return value;
}

}  // namespace advmoe
