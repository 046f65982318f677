// What a run writes besides checkpoints: metrics.csv (one row per epoch, atomically replaced),
// usage.csv (expert counts per epoch, layer and kind of input) and the expert-usage line on the
// console that flags collapsed routers.
#pragma once

#include <string>
#include <vector>

#include "training/trainer.h"

namespace advmoe {

// A layer is collapsed when its busiest expert takes more than this share of the samples
// (docs/moe.md; the same threshold everywhere: console, metrics.csv, final.json, tests).
constexpr double kCollapsedShare = 0.9;

// Each layer's busiest-expert share of its samples (NaN for a layer that saw none).
std::vector<double> busiest_shares(const std::vector<LayerUsage>& usage);
// How many shares exceed kCollapsedShare.
int collapsed_layers(const std::vector<double>& shares);
// "busiest expert takes 51%-100% of a layer's samples; 1 of 3 layers collapsed" (nothing for a
// model without MoE layers); a collapse is a WARNING line.
void print_usage_summary(const std::string& inputs, const std::vector<LayerUsage>& usage);
// print_usage_summary, plus the counts appended to the CSV file at `path`.
void report_usage(const std::string& path, int epoch, const std::string& inputs,
                  const std::vector<LayerUsage>& usage);
// Writes `text` to `path` through a temp file and a rename, so readers never see half a file.
void write_text_atomically(const std::string& path, const std::string& text);

// One row per epoch; MoE runs add busiest_clean_<layer> and busiest_adversarial_<layer> columns
// (layer names from `layers`, the model's MoE layers in order).
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& metrics,
                       const std::vector<std::string>& layers = {});

}  // namespace advmoe
