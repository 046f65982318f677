// The cascade's reports: the terminal table, the JSON file and the worst-case images in HDF5.
#include "training/attacks/cascade_report.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "training/hdf5_file.h"

namespace advmoe {

void print_cascade(const CascadeResult& r, const CascadeConfig& c) {
  std::printf("AutoAttack (%s), %s eps %.4g: clean accuracy %.2f%% (%lld of %lld)\n",
              r.version.c_str(), c.norm == PgdNorm::L2 ? "L2" : "L-inf", c.epsilon,
              100 * r.clean_accuracy(), static_cast<long long>(r.clean_correct),
              static_cast<long long>(r.total));
  int64_t robust = r.clean_correct;
  for (const AttackReport& a : r.attacks) {
    robust -= a.fooled;
    std::printf("  %-22s attacked %6lld, fooled %6lld, robust accuracy after it %.2f%%, %.1fs",
                a.name.c_str(), static_cast<long long>(a.attacked),
                static_cast<long long>(a.fooled), 100.0 * robust / std::max<int64_t>(r.total, 1),
                a.seconds);
    if (!a.route_changed.empty()) {
      std::printf(", expert changed for %.1f%% of attacked points (per layer:",
                  a.attacked ? 100.0 * a.route_changed_any / a.attacked : 0.0);
      for (int64_t changed : a.route_changed)
        std::printf(" %.1f%%", a.attacked ? 100.0 * changed / a.attacked : 0.0);
      std::printf(")");
    }
    std::printf("\n");
  }
  std::printf("robust accuracy (RA-AA, %s): %.2f%% (%lld of %lld)%s\n", r.version.c_str(),
              100 * r.robust_accuracy(), static_cast<long long>(r.robust),
              static_cast<long long>(r.total), r.finished ? "" : " [interrupted: partial]");
  for (const std::string& w : r.warnings) std::printf("warning: %s\n", w.c_str());
}

std::string cascade_json(const CascadeResult& r, const CascadeConfig& c,
                         const std::string& checkpoint) {
  std::ostringstream j;
  j << std::setprecision(10);
  auto list = [&](const std::vector<int64_t>& v) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
    s << "]";
    return s.str();
  };
  auto quoted = [](const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    return out + "\"";
  };
  j << "{\n  \"checkpoint\": " << quoted(checkpoint) << ",\n  \"version\": " << quoted(r.version)
    << ",\n  \"norm\": \"" << (c.norm == PgdNorm::L2 ? "l2" : "linf")
    << "\",\n  \"epsilon\": " << c.epsilon << ",\n  \"seed\": " << c.seed
    << ",\n  \"finished\": " << (r.finished ? "true" : "false") << ",\n  \"images\": " << r.total
    << ",\n  \"clean_correct\": " << r.clean_correct
    << ",\n  \"clean_accuracy\": " << r.clean_accuracy() << ",\n  \"robust\": " << r.robust
    << ",\n  \"robust_accuracy\": " << r.robust_accuracy()
    << ",\n  \"per_class\": {\"total\": " << list(r.per_class_total)
    << ", \"clean_correct\": " << list(r.per_class_clean)
    << ", \"robust\": " << list(r.per_class_robust) << "},\n  \"attacks\": [";
  for (size_t i = 0; i < r.attacks.size(); ++i) {
    const AttackReport& a = r.attacks[i];
    j << (i ? "," : "") << "\n    {\"name\": " << quoted(a.name) << ", \"attacked\": " << a.attacked
      << ", \"fooled\": " << a.fooled << ", \"seconds\": " << a.seconds
      << ", \"fooled_per_class\": " << list(a.fooled_per_class);
    if (!a.route_changed.empty()) {
      j << ", \"route_changed_per_layer\": " << list(a.route_changed)
        << ", \"route_changed_any\": " << a.route_changed_any << ", \"expert_usage\": {";
      for (size_t l = 0; l < a.usage.size(); ++l)
        j << (l ? ", " : "") << quoted(a.usage[l].layer) << ": " << list(a.usage[l].counts);
      j << "}";
    }
    j << "}";
  }
  j << "\n  ],\n  \"warnings\": [";
  for (size_t i = 0; i < r.warnings.size(); ++i) j << (i ? ", " : "") << quoted(r.warnings[i]);
  j << "]\n}\n";
  return j.str();
}

void save_adversarial(const std::string& path, const CascadeResult& r, const Dataset& test,
                      const CascadeConfig& c) {
  ADVMOE_CHECK(r.adversarial.storage() != nullptr, "save_adversarial: the images were not kept");
  const int64_t n = r.total;
  write_hdf5_atomically(path, [&](H5File& f) {
    f.write("/images", r.adversarial);
    Tensor labels = Tensor::zeros(Shape{n}, DType::I32), fooled = labels.clone(),
           robust = labels.clone(), clean = labels.clone();
    for (int64_t i = 0; i < n; ++i) {
      const int32_t by = r.fooled_by[static_cast<size_t>(i)];
      labels.data<int32_t>()[i] = test.labels[static_cast<size_t>(i)];
      fooled.data<int32_t>()[i] = by;
      robust.data<int32_t>()[i] = by == -1;
      clean.data<int32_t>()[i] = by != -2;
    }
    f.write("/labels", labels);
    f.write("/fooled_by", fooled);
    f.write("/robust", robust);
    f.write("/clean_correct", clean);
    std::string names;
    for (size_t s = 0; s < r.attacks.size(); ++s) names += (s ? "," : "") + r.attacks[s].name;
    f.set_attr("/", "attacks", names);
    f.set_attr("/", "version", r.version);
    f.set_attr("/", "norm", c.norm == PgdNorm::L2 ? "l2" : "linf");
    f.set_attr("/", "epsilon", c.epsilon);
    f.set_attr("/", "robust_accuracy", r.robust_accuracy());
    f.set_attr("/", "dataset", test.name);
  });
}

}  // namespace advmoe
