// Compilation of a graph into a Plan and its execution.
#include "compile/plan.h"

#include <chrono>

#include "backends/kernel_registry.h"
#include "compile/eval_fusion.h"
#include "compile/memory_planner.h"
#include "ops/op_registry.h"
#include "runtime/error.h"

namespace advmoe {

namespace {

bool eval_fusion_on = true;

// Nodes needed to compute `targets` from the `given` values, in graph order.
std::vector<int> live_nodes(const Graph& g, const std::vector<ValueId>& targets,
                            const std::vector<ValueId>& given) {
  std::vector<bool> needed(static_cast<size_t>(g.num_values()), false);
  std::vector<bool> is_given(static_cast<size_t>(g.num_values()), false);
  for (ValueId v : given) {
    ADVMOE_CHECK(g.value(v).persistent(),
                 "compile: given value '" << g.value(v).name << "' is not persistent");
    is_given[static_cast<size_t>(v)] = true;
  }
  for (ValueId v : targets) needed[static_cast<size_t>(v)] = true;
  std::vector<int> live;
  for (int i = g.num_nodes() - 1; i >= 0; --i) {
    const Node& n = g.node(i);
    bool any = false;
    for (ValueId v : n.outputs) any = any || needed[static_cast<size_t>(v)];
    if (!any) continue;
    live.push_back(i);
    for (ValueId v : n.inputs)
      if (!is_given[static_cast<size_t>(v)]) needed[static_cast<size_t>(v)] = true;
  }
  return {live.rbegin(), live.rend()};
}

}  // namespace

void set_eval_fusion_default(bool on) {
  eval_fusion_on = on;
}
bool eval_fusion_default() {
  return eval_fusion_on;
}

std::unique_ptr<Plan> compile(const Graph& source, Variables& variables,
                              const CompileOptions& options) {
  std::unique_ptr<Plan> plan(new Plan());
  std::vector<ValueId> targets = options.targets;
  if (targets.empty())
    for (ValueId v = 0; v < source.num_values(); ++v)
      if (source.value(v).role == Role::Loss || source.value(v).role == Role::Output)
        targets.push_back(v);
  ADVMOE_CHECK(!targets.empty(), "compile: the graph has no loss or output to compute");
  for (ValueId v : targets)
    ADVMOE_CHECK(source.value(v).persistent(),
                 "compile: target value #" << v << " is not marked as loss or output");

  std::vector<int> nodes = live_nodes(source, targets, options.given);
  const Graph* graph = &source;  // or the fusion's rewritten copy
  if (options.mode == Mode::Eval && options.fuse_eval) {
    EvalFusion fusion = fuse_eval_batch_norms(source, nodes);
    if (fusion.graph) {
      plan->rewritten_ = std::move(fusion.graph);
      graph = plan->rewritten_.get();
      nodes = std::move(fusion.nodes);
      plan->folded_batch_norms_ = fusion.folded_batch_norms;
      plan->fused_relus_ = fusion.fused_relus;
    }
  }
  const Graph& g = *graph;
  // A value a node updates in place (an optimizer step) must not be read by a later node of the
  // same Plan: that node would see the new value, not the one the graph describes.
  std::vector<bool> updated(static_cast<size_t>(g.num_values()), false);
  for (int index : nodes) {
    const Node& n = g.node(index);
    for (ValueId v : n.inputs)
      ADVMOE_CHECK(!updated[static_cast<size_t>(v)],
                   "compile: node '" << n.name << "' reads '" << g.value(v).name
                                     << "' after another node of the Plan updated it in place");
    for (int i : op_def(n.op).updates_inputs)
      updated[static_cast<size_t>(n.inputs.at(static_cast<size_t>(i)))] = true;
  }
  plan->mode_ = options.mode;
  Backend& backend = variables.backend();
  plan->backend_ = &backend;

  // Lifetimes of intermediates, in positions of `nodes`.
  std::vector<int> first(static_cast<size_t>(g.num_values()), -1), last = first;
  for (int pos = 0; pos < static_cast<int>(nodes.size()); ++pos) {
    const Node& n = g.node(nodes[static_cast<size_t>(pos)]);
    for (ValueId v : n.outputs) first[static_cast<size_t>(v)] = last[static_cast<size_t>(v)] = pos;
    for (ValueId v : n.inputs) last[static_cast<size_t>(v)] = pos;
  }
  std::vector<ValueId> planned;
  std::vector<BufferRequest> requests;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const ValueInfo& info = g.value(v);
    if (info.persistent() || first[static_cast<size_t>(v)] < 0) continue;
    planned.push_back(v);
    requests.push_back({static_cast<size_t>(info.shape.numel()) * dtype_size(info.dtype),
                        first[static_cast<size_t>(v)], last[static_cast<size_t>(v)]});
  }
  MemoryLayout layout = plan_memory(requests);
  plan->memory_.arena_bytes = layout.arena_bytes;
  plan->memory_.unshared_bytes = layout.total_bytes;
  plan->graph_ = &g;
  plan->source_ = &source;
  plan->source_values_ = source.num_values();
  plan->nodes_ = std::move(nodes);
  plan->offsets_.assign(static_cast<size_t>(g.num_values()), 0);
  for (size_t i = 0; i < planned.size(); ++i)
    plan->offsets_[static_cast<size_t>(planned[i])] = layout.offsets[i];
  // Every persistent value a live node touches, bound to its variable by name.
  plan->persistent_.assign(static_cast<size_t>(g.num_values()), Tensor());
  for (int index : plan->nodes_) {
    const Node& n = g.node(index);
    for (const auto* list : {&n.inputs, &n.outputs})
      for (ValueId v : *list) {
        const ValueInfo& info = g.value(v);
        if (!info.persistent()) continue;
        ADVMOE_CHECK(!info.name.empty(),
                     "compile: a persistent value of node '" << n.name << "' has no name");
        plan->persistent_[static_cast<size_t>(v)] =
            variables.ensure(info.name, info.shape, info.dtype);
      }
  }
  plan->arena_ = variables.arena();
  if (plan->arena_->batching()) {
    plan->arena_->defer(plan.get(), layout.arena_bytes);  // kernels come at the batch's end
  } else {
    plan->arena_->reserve_intermediates(plan.get(), layout.arena_bytes);
    plan->rebind();
  }
  return plan;
}

Plan::~Plan() {
  if (arena_) arena_->release(this);
}

void Plan::rebind() {
  const Graph& g = *graph_;
  const Tensor& arena = arena_->intermediates();
  kernels_.clear();
  ops_.clear();
  memory_.kernel_owned_bytes = 0;
  size_t scratchpad = 0;
  KernelRegistry& registry = KernelRegistry::instance();
  auto bound = [&](ValueId v) {
    const ValueInfo& info = g.value(v);
    // A value marked as an output or loss after this Plan was compiled has no variable here (a
    // rewritten Plan reads its own copy of the graph; the source shows the marks made since).
    // (Values past source_values_ are the pass's own, unrelated to those added to the source.)
    const bool marked_late =
        v < source_values_ && source_->value(v).persistent() && !info.persistent();
    if (marked_late || (info.persistent() && !persistent_[static_cast<size_t>(v)].defined()))
      ADVMOE_FAIL("compile: value '" << source_->value(v).name
                                     << "' was marked as an output or loss after a Plan that "
                                        "computes it was compiled; mark outputs before compiling "
                                        "the Plans that compute them (or mark a copy)");
    if (info.persistent()) return persistent_[static_cast<size_t>(v)];
    return Tensor(arena.storage(), offsets_[static_cast<size_t>(v)], info.shape, info.dtype);
  };
  for (int index : nodes_) {
    const Node& n = g.node(index);
    KernelArgs args{n, mode_, {}, {}, *backend_};
    for (ValueId v : n.inputs) args.inputs.push_back(bound(v));
    for (ValueId v : n.outputs) args.outputs.push_back(bound(v));
    try {
      kernels_.push_back(registry.find(backend_->name(), n.op)(args));
    } catch (const std::exception& e) {  // advmoe::Error or a oneDNN/CUDA library error
      ADVMOE_FAIL("compile: node '" << n.name << "' (" << op_def(n.op).name << "): " << e.what());
    }
    ops_.push_back(n.op);
    scratchpad = std::max(scratchpad, kernels_.back()->scratchpad_bytes());
    memory_.kernel_owned_bytes += kernels_.back()->owned_bytes();
  }
  kernel_seconds_.assign(kernels_.size(), 0.0);
  bound_ = true;
  memory_.scratchpad_bytes = scratchpad;
  arena_->reserve_scratchpad(scratchpad);  // hands every Plan the pointer when it grows
  set_scratchpad(arena_->scratchpad());
}

void Plan::set_scratchpad(void* scratchpad) {
  if (memory_.scratchpad_bytes == 0) return;
  for (auto& k : kernels_) k->set_scratchpad(scratchpad);
}

void Plan::run() {
  ADVMOE_CHECK(bound_, "a Plan ran before its program's compilation finished");
  for (size_t i = 0; i < kernels_.size(); ++i) {
    if (profiling_) {
      backend_->synchronize();
      auto start = std::chrono::steady_clock::now();
      kernels_[i]->run();
      backend_->synchronize();
      kernel_seconds_[i] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } else {
      kernels_[i]->run();
    }
    ++run_counts_[static_cast<size_t>(ops_[i])];
  }
}

std::array<double, static_cast<size_t>(Op::kCount)> Plan::seconds_by_op() const {
  std::array<double, static_cast<size_t>(Op::kCount)> out{};
  for (size_t i = 0; i < kernels_.size(); ++i)
    out[static_cast<size_t>(ops_[i])] += kernel_seconds_[i];
  return out;
}

}  // namespace advmoe
