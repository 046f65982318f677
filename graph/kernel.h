// The Kernel interface: the per-backend implementation of one node, created once at compile time
// with its tensors already bound (so run() allocates nothing). Which kernel implements which
// (backend, op) is decided in backends/ (backends/kernel_registry.h); the IR only knows the shape
// of the contract.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "graph/graph.h"
#include "runtime/backend.h"

namespace advmoe {

// Train: batch norm uses batch statistics and updates running stats. Eval: running stats.
enum class Mode { Train, Eval };

struct KernelArgs {
  const Node& node;
  Mode mode;
  std::vector<Tensor> inputs;   // bound to node.inputs, same order
  std::vector<Tensor> outputs;  // bound to node.outputs, same order
  Backend& backend;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run() = 0;
  // Scratch memory the kernel needs while running; the plan gives every kernel the same
  // scratchpad (kernels run one at a time), sized to the largest request.
  virtual size_t scratchpad_bytes() const { return 0; }
  virtual void set_scratchpad(void* /*scratchpad*/) {}
  // Memory the kernel owns for its whole life (e.g. weights reordered to oneDNN's blocked layout).
  virtual size_t owned_bytes() const { return 0; }
};

// A kernel whose work is one closure over pointers captured at compile time.
class LoopKernel : public Kernel {
 public:
  explicit LoopKernel(std::function<void()> body) : body_(std::move(body)) {}
  void run() override { body_(); }

 private:
  std::function<void()> body_;
};

using KernelFactory = std::function<std::unique_ptr<Kernel>(const KernelArgs&)>;

}  // namespace advmoe
