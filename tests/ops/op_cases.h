// The op test table (ggml test-backend-ops style): one entry per case; every entry is run
// through the finite-difference gradient check (f64, reference kernels) and the oneDNN-vs-
// reference parity check (f32, forward and every gradient). To test a new op, add an entry here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/kernel.h"

namespace advmoe::testing {

struct OpCase {
  std::string name;
  // Creates named inputs/params/buffers in the graph and returns the op's output.
  std::function<Val(Graph&)> build;
  std::vector<Mode> modes{Mode::Train};  // both modes where the op behaves differently
  bool gradcheck = true;                 // false for large parity-only cases
  bool on_cuda = true;                   // false where the CUDA backend refuses the case
};

const std::vector<OpCase>& op_cases();

}  // namespace advmoe::testing
