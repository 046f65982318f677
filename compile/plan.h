// compile(graph) -> Plan: chooses the nodes needed for the requested targets, binds persistent
// values to Variables, places intermediates (memory_planner.h) in the arena all Plans over the
// same Variables share (arena.h) and creates every kernel (oneDNN primitives included).
// Plan::run() then only runs kernels: it allocates nothing.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compile/variables.h"
#include "graph/graph.h"
#include "graph/kernel.h"

namespace advmoe {

// The process-wide default of CompileOptions::fuse_eval (on; the commands' --eval-fusion), so a
// user can rule the fusion out when a result looks wrong, and benchmarks can measure it.
void set_eval_fusion_default(bool on);
bool eval_fusion_default();

struct CompileOptions {
  Mode mode = Mode::Train;
  // Values to compute; empty means every Loss and Output value of the graph.
  std::vector<ValueId> targets;
  // Persistent values this Plan reads as they are in the Variables instead of computing them
  // (another Plan of the program computed them): an attack's step Plan reads the gradient the
  // gradient Plan left there, so the step runs alone.
  std::vector<ValueId> given;
  // Eval mode: fold each batch norm (and the ReLU after it) into the conv before it
  // (compile/eval_fusion.h). Off to compare against the unfused Plan.
  bool fuse_eval = eval_fusion_default();
};

struct PlanMemory {
  size_t arena_bytes = 0;  // intermediates after lifetime-based reuse (the plan's peak);
                           // held in the program's shared arena

  size_t unshared_bytes = 0;    // intermediates if each had its own buffer
  size_t scratchpad_bytes = 0;  // one shared kernel scratchpad
  size_t kernel_owned_bytes = 0;
};

class Plan {
 public:
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  void run();

  const PlanMemory& memory() const { return memory_; }
  Mode mode() const { return mode_; }
  // Ops of the kernels in execution order, and how often each op has run so far.
  const std::vector<Op>& kernel_ops() const { return ops_; }
  int64_t run_count(Op op) const { return run_counts_[static_cast<size_t>(op)]; }
  // Batch norms (and ReLUs) the eval-mode fusion folded into convolutions.
  int folded_batch_norms() const { return folded_batch_norms_; }
  int fused_relus() const { return fused_relus_; }

  // Profiling: when on, run() accumulates each kernel's wall time (for `advmoe bench --profile`);
  // on a GPU it synchronizes around every kernel, so a profiled run is slower than a plain one.
  void set_profiling(bool on) { profiling_ = on; }
  // Accumulated seconds per op kind over all profiled runs.
  std::array<double, static_cast<size_t>(Op::kCount)> seconds_by_op() const;

 private:
  friend std::unique_ptr<Plan> compile(const Graph&, Variables&, const CompileOptions&);
  friend class SharedArena;
  Plan() = default;
  // (Re)creates every kernel over the arena's current memory; the arena calls it when it moves.
  void rebind();
  void set_scratchpad(void* scratchpad);

  Mode mode_ = Mode::Train;
  const Graph* graph_ = nullptr;      // the graph must outlive its Plans (models own theirs)
  std::unique_ptr<Graph> rewritten_;  // graph_ when a compile pass rewrote the graph
  const Graph* source_ = nullptr;     // the graph compiled (graph_ unless rewritten)
  int source_values_ = 0;             // its values when compiled
  int folded_batch_norms_ = 0, fused_relus_ = 0;
  Backend* backend_ = nullptr;  // profiling waits for it around each kernel (GPU work is async)
  std::shared_ptr<SharedArena> arena_;
  std::vector<int> nodes_;          // live nodes in run order
  std::vector<Tensor> persistent_;  // by value id: variables bound by name (empty otherwise)
  std::vector<size_t> offsets_;     // by value id: place in the arena of an intermediate
  std::vector<std::unique_ptr<Kernel>> kernels_;
  bool bound_ = false;  // kernels built (deferred inside a ProgramCompilation)
  std::vector<Op> ops_;
  std::array<int64_t, static_cast<size_t>(Op::kCount)> run_counts_{};
  std::vector<double> kernel_seconds_;
  bool profiling_ = false;
  PlanMemory memory_;
};

// Kernels come from the backend of `variables`.
std::unique_ptr<Plan> compile(const Graph& graph, Variables& variables,
                              const CompileOptions& options = {});

}  // namespace advmoe
