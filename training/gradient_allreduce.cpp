// Bucketing of a level's gradients into allreduce_mean nodes.
#include "training/gradient_allreduce.h"

#include "ops/collective.h"
#include "runtime/communicator.h"

namespace advmoe {

Gradients average_over_ranks(Graph& g, const std::vector<ValueId>& params, const Gradients& grads,
                             const std::string& level, int64_t bucket_bytes) {
  if (!world().distributed()) return grads;
  Gradients averaged = grads;
  std::vector<ValueId> bucket;
  int64_t bytes = 0;
  int index = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<Val> inputs;
    for (ValueId p : bucket) inputs.push_back(Val{&g, grads[p]});
    std::vector<Val> means =
        allreduce_mean(inputs, level + ".allreduce." + std::to_string(index++));
    for (size_t i = 0; i < bucket.size(); ++i) averaged.of[bucket[i]] = means[i].id;
    bucket.clear();
    bytes = 0;
  };
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const ValueInfo& grad = g.value(grads[*it]);
    const int64_t size = grad.shape.numel() * static_cast<int64_t>(dtype_size(grad.dtype));
    if (!bucket.empty() && bytes + size > bucket_bytes) flush();
    bucket.push_back(*it);
    bytes += size;
  }
  flush();
  return averaged;
}

}  // namespace advmoe
