// Run reports: metrics.csv, usage.csv and the expert-usage console line.
#include "training/run_files.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "runtime/error.h"

namespace advmoe {

void print_usage_summary(const std::string& inputs, const std::vector<LayerUsage>& usage) {
  if (usage.empty()) return;
  double lowest = 1, highest = 0;
  int collapsed = 0;
  for (const LayerUsage& u : usage) {
    int64_t total = std::accumulate(u.counts.begin(), u.counts.end(), int64_t{0});
    double top =
        total ? static_cast<double>(*std::max_element(u.counts.begin(), u.counts.end())) / total
              : 0;
    lowest = std::min(lowest, top);
    highest = std::max(highest, top);
    collapsed += top > 0.95;
  }
  // A collapsed router sends nearly everything to one expert: the MoE is then a dense model of
  // width r, which makes comparisons with S-Dense meaningless.
  std::printf(
      "  expert usage (%s inputs): busiest expert takes %.0f%%-%.0f%% of a layer's "
      "samples; %d of %zu layers collapsed (>95%% on one expert)%s\n",
      inputs.c_str(), 100 * lowest, 100 * highest, collapsed, usage.size(),
      collapsed ? " - consider --balance-loss" : "");
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

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& metrics) {
  std::ofstream out(path + ".tmp");
  out << "epoch,train_loss,train_accuracy,test_loss,test_accuracy,robust_accuracy,seconds,"
         "images_per_second\n";
  for (const EpochMetrics& m : metrics)
    out << m.epoch << "," << m.train_loss << "," << m.train_accuracy << "," << m.test_loss << ","
        << m.test_accuracy << "," << m.robust_accuracy << "," << m.seconds << ","
        << m.images_per_second << "\n";
  out.close();
  std::filesystem::rename(path + ".tmp", path);
}

}  // namespace advmoe
