// Run reports: metrics.csv, usage.csv and the expert-usage console line.
#include "training/run_files.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "runtime/error.h"

namespace advmoe {

std::vector<double> busiest_shares(const std::vector<LayerUsage>& usage) {
  std::vector<double> shares;
  for (const LayerUsage& u : usage) {
    int64_t total = std::accumulate(u.counts.begin(), u.counts.end(), int64_t{0});
    shares.push_back(
        total ? static_cast<double>(*std::max_element(u.counts.begin(), u.counts.end())) /
                    static_cast<double>(total)
              : std::nan(""));
  }
  return shares;
}

int collapsed_layers(const std::vector<double>& shares) {
  return static_cast<int>(
      std::count_if(shares.begin(), shares.end(), [](double s) { return s > kCollapsedShare; }));
}

void print_usage_summary(const std::string& inputs, const std::vector<LayerUsage>& usage) {
  if (usage.empty()) return;
  std::vector<double> shares = busiest_shares(usage);
  const int collapsed = collapsed_layers(shares);
  // Each layer's share when they fit on a line (SmallCNN's 3, VGG's 12), else the range.
  std::string detail;
  if (shares.size() <= 12) {
    for (size_t i = 0; i < shares.size(); ++i)
      detail +=
          (i ? " " : "") +
          (std::isfinite(shares[i]) ? std::to_string(std::lround(100 * shares[i])) + "%" : "-");
    detail = "busiest expert per layer " + detail;
  } else {
    double lowest = 1, highest = 0;
    for (double s : shares)
      if (std::isfinite(s)) {
        lowest = std::min(lowest, s);
        highest = std::max(highest, s);
      }
    detail = "busiest expert takes " + std::to_string(std::lround(100 * lowest)) + "%-" +
             std::to_string(std::lround(100 * highest)) + "% of a layer's samples";
  }
  // A collapsed router sends nearly everything to one expert: the MoE is then a dense model of
  // width r, which makes comparisons with S-Dense meaningless.
  std::printf(
      "  expert usage (%s inputs): %s; %d of %zu layers collapsed (>%.0f%% on one expert)\n",
      inputs.c_str(), detail.c_str(), collapsed, usage.size(), 100 * kCollapsedShare);
  if (collapsed)
    std::printf(
        "  WARNING: %d of %zu MoE layers collapsed on %s inputs: they compute as one "
        "expert (see --router-input, --balance-bias; docs/moe.md)\n",
        collapsed, usage.size(), inputs.c_str());
}

void report_usage(const std::string& path, int epoch, const std::string& inputs,
                  const std::vector<LayerUsage>& usage) {
  if (usage.empty()) return;
  bool header = !std::filesystem::exists(path);
  std::ofstream csv(path, std::ios::app);
  if (header) {
    csv << "epoch,inputs,layer";
    for (size_t e = 0; e < usage[0].counts.size(); ++e) csv << ",expert" << e;
    csv << "\n";
  }
  for (const LayerUsage& u : usage) {
    csv << epoch << "," << inputs << "," << u.layer;
    for (int64_t c : u.counts) csv << "," << c;
    csv << "\n";
  }
  print_usage_summary(inputs, usage);
}

void write_text_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    ADVMOE_CHECK(out.good(), "cannot write '" << tmp << "'");
  }
  ADVMOE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0,
               "cannot rename '" << tmp << "' to '" << path << "'");
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& metrics,
                       const std::vector<std::string>& layers) {
  std::ofstream out(path + ".tmp");
  out << "epoch,train_loss,train_accuracy,test_loss,test_accuracy,robust_accuracy,seconds,"
         "images_per_second";
  for (const char* inputs : {"clean", "adversarial"})
    for (const std::string& layer : layers) out << ",busiest_" << inputs << "_" << layer;
  out << "\n";
  // A row without shares (a checkpoint from before they were recorded) leaves them empty.
  auto shares = [&](const std::vector<double>& values) {
    for (size_t i = 0; i < layers.size(); ++i) {
      out << ",";
      if (i < values.size()) out << values[i];
    }
  };
  for (const EpochMetrics& m : metrics) {
    out << m.epoch << "," << m.train_loss << "," << m.train_accuracy << "," << m.test_loss << ","
        << m.test_accuracy << "," << m.robust_accuracy << "," << m.seconds << ","
        << m.images_per_second;
    shares(m.busiest_clean);
    shares(m.busiest_adversarial);
    out << "\n";
  }
  out.close();
  std::filesystem::rename(path + ".tmp", path);
}

}  // namespace advmoe
