// The forward-convolution rate oneDNN reaches on this CPU for a model's own convolution shapes:
// the ceiling that `advmoe bench` sets its achieved GFLOP/s against.
#pragma once

#include "graph/graph.h"
#include "runtime/backend.h"

namespace advmoe {

struct ConvPeak {
  double gflop = 0;       // one forward pass of every conv of the graph
  double seconds = 0;     // the same, each shape timed alone on ready inputs
  int shapes = 0;         // distinct convolution shapes timed
  const char* type = "";  // the compute type timed: f32 or bf16
  double gflops_per_s() const { return seconds > 0 ? gflop / seconds : 0; }
};

// Times oneDNN's forward convolution for every distinct conv shape of `g` (conv2d nodes; an
// expert_conv as one expert at batch / experts rows, the group size of balanced routing), inputs
// already in the backend's compute type and weights in oneDNN's layout: no reorders, no gathers.
// Empty (shapes == 0) when `backend` is not the onednn backend.
ConvPeak measure_conv_peak(const Graph& g, Backend& backend);

}  // namespace advmoe
