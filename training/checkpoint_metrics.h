// The per-epoch tables of a checkpoint: /metrics (the compound table of losses, accuracies and
// times) and /metrics_busiest (each MoE layer's busiest-expert shares), written and read back with
// every stored field checked (docs/checkpoint-format.md). Used by training/checkpoint.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include "training/hdf5_file.h"
#include "training/trainer.h"

namespace advmoe {

void write_metrics(H5File& f, const std::vector<EpochMetrics>& metrics);
// One row per completed epoch: a table longer than `epochs` rows is refused before it is read.
std::vector<EpochMetrics> read_metrics(const H5File& f, int64_t epochs);
void write_busiest(H5File& f, const std::vector<EpochMetrics>& metrics);
// Fills the shares of `metrics` (read_metrics' rows) from /metrics_busiest when the file has it.
void read_busiest(const H5File& f, std::vector<EpochMetrics>& metrics);

}  // namespace advmoe
