// The op table's test harness, shared by the CPU suite (test_ops) and the GPU suite
// (test_cuda): builds a case's graph with L = sum(y * R) and its gradients, fills inputs with
// the same values on any backend, and runs a case on a backend returning its outputs on the host.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backends.h"
#include "compile/variables.h"
#include "graph/graph.h"
#include "ops/op_cases.h"

namespace advmoe::testing {

struct Built {
  std::unique_ptr<Graph> graph;
  ValueId loss;
  std::vector<ValueId> targets;  // float inputs and params
};

// y = case(g); L = sum(y * R) with R an input "projection"; gradients of L w.r.t. all float
// inputs and parameters.
Built build(const OpCase& c, DType dtype);
// Same values for the same name, whatever the backend or dtype.
void fill_inputs(const Graph& g, Variables& vars);
std::string mode_name(Mode m);
std::vector<std::string> gradcheck_names();
std::vector<std::string> all_names();
std::vector<std::string> cuda_names();  // the cases the CUDA backend runs (OpCase::on_cuda)
const OpCase& find_case(const std::string& name);
// Runs case `c` in f32 on `backend` in `mode`; returns every output, loss and buffer (running
// statistics) by name, copied to the host.
std::map<std::string, Tensor> run_case(const OpCase& c, const std::string& backend, Mode mode,
                                       const BackendOptions& options = {});

}  // namespace advmoe::testing
