// The sparse expert_conv scheme every backend's kernel shares: which bound tensor is x, w and y
// in each pass, the route check, the counting sort of samples by expert, and the choice of the
// prepared batch size ("bucket") a group runs on. The reference kernel uses the first two (it
// convolves sample by sample: the definition); the oneDNN and CUDA kernels all four.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/kernel.h"
#include "ops/op_registry.h"
#include "runtime/error.h"

namespace advmoe {

enum class ExpertPass { Forward, BackwardData, BackwardWeights };

inline ExpertPass expert_pass(Op op) {
  return op == Op::ExpertConv               ? ExpertPass::Forward
         : op == Op::ExpertConvBackwardData ? ExpertPass::BackwardData
                                            : ExpertPass::BackwardWeights;
}

// The roles of a pass's bound tensors: forward (x, w, route) -> y; backward data
// (dy, w, route) -> dx; backward weights (dy, x, route) -> dw. x, w and y then name x/dx, w/dw
// and y/dy.
struct ExpertConvTensors {
  Tensor x, w, y, route;
  Tensor bias;  // forward with a folded batch norm only (ExpertConvAttrs::relu may come with it)
};

inline ExpertConvTensors expert_conv_tensors(const KernelArgs& a, ExpertPass pass) {
  ExpertConvTensors t;
  t.x = pass == ExpertPass::BackwardData ? a.outputs[0]
                                         : a.inputs[pass == ExpertPass::Forward ? 0 : 1];
  t.w = pass == ExpertPass::BackwardWeights ? a.outputs[0] : a.inputs[1];
  t.y = pass == ExpertPass::Forward ? a.outputs[0] : a.inputs[0];
  t.route = a.inputs[2];
  if (pass == ExpertPass::Forward && a.inputs.size() == 4) t.bias = a.inputs[3];
  return t;
}

// "expert_conv_backward_data 'conv2/backward_data'": how errors name the node (copied at compile
// time: kernels outlive graph edits).
inline std::string node_label(const Node& node) {
  return std::string(op_def(node.op).name) + " '" + node.name + "'";
}

// A route outside [0, experts) is a bug upstream: names the node ("expert_conv 'conv2'") and the
// sample.
inline void check_routes(const std::string& node, const int32_t* route, int64_t n, int experts) {
  for (int64_t i = 0; i < n; ++i)
    ADVMOE_CHECK(route[i] >= 0 && route[i] < experts, node << ": sample " << i
                                                           << " is routed to expert " << route[i]
                                                           << " of " << experts);
}

// The samples of a batch grouped by expert: a stable counting sort of the (checked) route, so
// group e is order[first(e) .. first(e) + size(e)) in increasing sample index, and the bucket
// (index into bucket_rows, the batch sizes a kernel prepared) each group runs on: the smallest
// that holds it, the padding rows zero.
class ExpertGroups {
 public:
  ExpertGroups(std::string node, int64_t samples, int experts, std::vector<int64_t> bucket_rows)
      : node_(std::move(node)),
        samples_(samples),
        experts_(experts),
        bucket_rows_(std::move(bucket_rows)),
        offsets_(static_cast<size_t>(experts) + 1),
        cursor_(static_cast<size_t>(experts)) {}

  // Sorts `route` (host memory) into `order` (host, `samples` entries).
  template <typename Index>
  void sort(const int32_t* route, Index* order) {
    check_routes(node_, route, samples_, experts_);
    std::fill(offsets_.begin(), offsets_.end(), 0);
    for (int64_t i = 0; i < samples_; ++i) ++offsets_[static_cast<size_t>(route[i]) + 1];
    for (int e = 0; e < experts_; ++e)
      offsets_[static_cast<size_t>(e) + 1] += offsets_[static_cast<size_t>(e)];
    std::copy(offsets_.begin(), offsets_.end() - 1, cursor_.begin());
    for (int64_t i = 0; i < samples_; ++i)
      order[cursor_[static_cast<size_t>(route[i])]++] = static_cast<Index>(i);
  }

  int64_t first(int e) const { return offsets_[static_cast<size_t>(e)]; }
  int64_t size(int e) const {
    return offsets_[static_cast<size_t>(e) + 1] - offsets_[static_cast<size_t>(e)];
  }
  // The bucket of a group of `rows` samples (rows >= 1).
  size_t bucket(int64_t rows) const {
    size_t b = 0;
    while (bucket_rows_[b] < rows) ++b;
    return b;
  }
  int64_t bucket_rows(size_t bucket) const { return bucket_rows_[bucket]; }

 private:
  std::string node_;
  int64_t samples_;
  int experts_;
  std::vector<int64_t> bucket_rows_;
  std::vector<int64_t> offsets_, cursor_;
};

}  // namespace advmoe
