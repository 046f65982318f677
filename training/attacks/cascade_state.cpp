// The cascade's state file: fingerprint, atomic write, validated read.
#include "training/attacks/cascade_state.h"

#include <filesystem>
#include <sstream>

#include "training/hdf5_file.h"

namespace advmoe {

std::string state_fingerprint(const CascadeConfig& c, const std::vector<std::string>& names,
                              const Dataset& test, int64_t batch) {
  std::ostringstream s;
  s << "test=" << test.name << "/" << test.size() << " batch=" << batch
    << " norm=" << (c.norm == PgdNorm::L2 ? "l2" : "linf") << " eps=" << c.epsilon
    << " seed=" << c.seed << " apgd=" << c.apgd_iterations << " fab=" << c.fab_iterations
    << " square=" << c.square_queries << " targets=" << c.target_classes
    << " restarts=" << c.restarts << " attacks=";
  for (const std::string& n : names) s << n << ";";
  return s.str();
}

void write_state(const std::string& path, const std::string& print, const Record& r, int64_t layers,
                 int64_t n) {
  write_hdf5_atomically(path, [&](H5File& f) {
    f.set_attr("/", "fingerprint", print);
    f.set_attr("/", "stage", static_cast<double>(r.stage));
    f.set_attr("/", "next_batch", static_cast<double>(r.next_batch));
    Tensor fooled = Tensor::zeros(Shape{n}, DType::I32);
    std::copy(r.fooled_by.begin(), r.fooled_by.end(), fooled.data<int32_t>());
    f.write("/fooled_by", fooled);
    const int64_t stages = static_cast<int64_t>(r.seconds.size());
    Tensor seconds = Tensor::zeros(Shape{stages}, DType::F64);
    std::copy(r.seconds.begin(), r.seconds.end(), seconds.data<double>());
    f.write("/seconds", seconds);
    Tensor attacked = Tensor::zeros(Shape{stages, n}, DType::I32);
    std::copy(r.attacked.begin(), r.attacked.end(), attacked.data<int32_t>());
    f.write("/attacked", attacked);
    if (layers > 0) {
      Tensor routes = Tensor::zeros(Shape{stages, layers, n}, DType::I32);
      std::copy(r.routes.begin(), r.routes.end(), routes.data<int32_t>());
      f.write("/routes", routes);
    }
    if (r.images.storage()) f.write("/images", r.images);
  });  // a kill leaves the old state or the new
}

bool read_state(const std::string& path, const std::string& print, Record& r, int64_t layers,
                int64_t n) {
  if (!std::filesystem::exists(path)) return false;
  H5File f = H5File::open(path);
  const std::string theirs = f.attr_string("/", "fingerprint");
  ADVMOE_CHECK(theirs == print,
               "state file '" << path << "' belongs to another evaluation:\n  it: " << theirs
                              << "\n  this: " << print << "\nremove it or pass another --state");
  const int64_t stages = static_cast<int64_t>(r.seconds.size());
  r.stage = static_cast<int32_t>(f.attr_number("/", "stage", 0, static_cast<double>(stages), true));
  r.next_batch = static_cast<int32_t>(f.attr_number("/", "next_batch", 0, 1e9, true));
  auto read_exact = [&](const std::string& name, const Shape& shape, DType dtype) {
    Tensor t = f.read(name);
    ADVMOE_CHECK(
        t.shape() == shape && t.dtype() == dtype,
        "state file '" << path << "': " << name << " is " << t.shape() << ", expected " << shape);
    return t;
  };
  Tensor fooled = read_exact("/fooled_by", Shape{n}, DType::I32);
  r.fooled_by.assign(fooled.data<int32_t>(), fooled.data<int32_t>() + n);
  for (int32_t v : r.fooled_by)
    ADVMOE_CHECK(v >= -2 && v < stages, "state file '" << path << "': fooled_by holds " << v);
  Tensor seconds = read_exact("/seconds", Shape{stages}, DType::F64);
  r.seconds.assign(seconds.data<double>(), seconds.data<double>() + stages);
  Tensor attacked = read_exact("/attacked", Shape{stages, n}, DType::I32);
  r.attacked.assign(attacked.data<int32_t>(), attacked.data<int32_t>() + stages * n);
  if (layers > 0) {
    Tensor routes = read_exact("/routes", Shape{stages, layers, n}, DType::I32);
    r.routes.assign(routes.data<int32_t>(), routes.data<int32_t>() + routes.numel());
  }
  if (r.images.storage()) {
    ADVMOE_CHECK(f.exists("/images"), "state file '" << path << "' has no images: it was "
                                                     << "written without --save-adversarial");
    r.images = read_exact("/images", r.images.shape(), DType::F32);
  }
  return true;
}

}  // namespace advmoe
