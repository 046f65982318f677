// Dissection categories, pathway IoU and summaries.
#include "training/dissection.h"

#include <algorithm>
#include <set>

#include "runtime/error.h"

namespace advmoe {

int dissection_category(const SampleRoutes& s) {
  ADVMOE_CHECK(s.clean_routes.size() == s.adversarial_routes.size(),
               "dissection: clean and adversarial routes have different layer counts");
  bool routers = false;
  for (size_t l = 0; l < s.clean_routes.size(); ++l)
    routers = routers || s.clean_routes[l] != s.adversarial_routes[l];
  bool prediction = s.adversarial_prediction != s.label;
  return routers ? (prediction ? 4 : 2) : (prediction ? 3 : 1);
}

DissectionCounts dissect(const std::vector<SampleRoutes>& samples, int64_t layers) {
  DissectionCounts c;
  c.layer_changed.assign(static_cast<size_t>(layers), 0);
  for (const SampleRoutes& s : samples) {
    ADVMOE_CHECK(
        static_cast<int64_t>(s.clean_routes.size()) == layers,
        "dissection: a sample has " << s.clean_routes.size() << " routes, expected " << layers);
    ++c.samples;
    ++c.category[dissection_category(s) - 1];
    for (int64_t l = 0; l < layers; ++l)
      c.layer_changed[static_cast<size_t>(l)] +=
          s.clean_routes[static_cast<size_t>(l)] != s.adversarial_routes[static_cast<size_t>(l)];
  }
  return c;
}

double pathway_iou(const std::vector<LayerChannels>& a, const std::vector<LayerChannels>& b) {
  ADVMOE_CHECK(a.size() == b.size(), "pathway IoU: " << a.size() << " layers against " << b.size());
  int64_t inter = 0, uni = 0;
  for (size_t l = 0; l < a.size(); ++l) {
    std::set<int64_t> x(a[l].begin(), a[l].end()), y(b[l].begin(), b[l].end());
    int64_t common = 0;
    for (int64_t c : x) common += y.count(c);
    inter += common;
    uni += static_cast<int64_t>(x.size() + y.size()) - common;
  }
  return uni == 0 ? 1.0 : static_cast<double>(inter) / static_cast<double>(uni);
}

LayerChannels expert_channels(int32_t expert, int64_t width) {
  LayerChannels c;
  for (int64_t i = 0; i < width; ++i) c.push_back(expert * width + i);
  return c;
}

Summary summarize(const std::vector<double>& values, int bins) {
  Summary s;
  s.histogram.assign(static_cast<size_t>(bins), 0);
  if (values.empty()) return s;
  std::vector<double> v = values;
  std::sort(v.begin(), v.end());
  double total = 0;
  for (double x : v) {
    total += x;
    s.at_one += x == 1.0;
    int bin = std::clamp(static_cast<int>(x * bins), 0, bins - 1);
    ++s.histogram[static_cast<size_t>(bin)];
  }
  const size_t n = v.size();
  s.mean = total / static_cast<double>(n);
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.at_one /= static_cast<double>(n);
  return s;
}

}  // namespace advmoe
