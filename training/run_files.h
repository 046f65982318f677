// What a run writes besides checkpoints: metrics.csv (one row per epoch, atomically replaced),
// usage.csv (expert counts per epoch, layer and kind of input) and the expert-usage line on the
// console that flags collapsed routers.
#pragma once

#include <string>
#include <vector>

#include "training/trainer.h"

namespace advmoe {

// "busiest expert takes 51%-100% of a layer's samples; 1 of 3 layers collapsed" (nothing for a
// model without MoE layers).
void print_usage_summary(const std::string& inputs, const std::vector<LayerUsage>& usage);
// print_usage_summary, plus the counts appended to the CSV file at `path`.
void report_usage(const std::string& path, int epoch, const std::string& inputs,
                  const std::vector<LayerUsage>& usage);
// Writes `text` to `path` through a temp file and a rename, so readers never see half a file.
void write_text_atomically(const std::string& path, const std::string& text);

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& metrics);

}  // namespace advmoe
