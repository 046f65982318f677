// The gradient all-reduce on host memory: the bucket's tensors are packed into one staging
// buffer, summed over the ranks by one collective (runtime/communicator.h) and unpacked divided
// by the number of ranks.
#include <cstring>
#include <vector>

#include "backends/host/dispatch.h"
#include "backends/host/host_loops.h"
#include "runtime/communicator.h"

namespace advmoe {

namespace {

template <typename T>
void sum_over_ranks(Communicator& group, T* data, int64_t n) {
  group.allreduce_sum(data, n);
}

std::unique_ptr<Kernel> allreduce_mean_kernel(const KernelArgs& a, bool parallel) {
  return by_float_type(a.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::vector<const T*> in;
    std::vector<T*> out;
    std::vector<int64_t> sizes;
    int64_t total = 0;
    for (size_t i = 0; i < a.inputs.size(); ++i) {
      in.push_back(a.inputs[i].data<T>());
      out.push_back(a.outputs[i].data<T>());
      sizes.push_back(a.inputs[i].numel());
      total += a.inputs[i].numel();
    }
    auto staging = std::make_shared<std::vector<T>>(static_cast<size_t>(total));
    return loop_kernel([=] {
      Communicator& group = world();
      T* buffer = staging->data();
      int64_t offset = 0;
      for (size_t i = 0; i < in.size(); ++i) {
        std::memcpy(buffer + offset, in[i], sizeof(T) * static_cast<size_t>(sizes[i]));
        offset += sizes[i];
      }
      sum_over_ranks(group, buffer, total);
      const T inverse = T(1) / static_cast<T>(group.size());
      offset = 0;
      for (size_t i = 0; i < in.size(); ++i) {
        T* dst = out[i];
        const T* src = buffer + offset;
        const int64_t n = sizes[i];
#pragma omp parallel for if (parallel && n > 65536)
        for (int64_t k = 0; k < n; ++k) dst[k] = src[k] * inverse;
        offset += n;
      }
    });
  });
}

}  // namespace

void add_collective_loops(KernelTable& t, bool parallel) {
  put(t, Op::AllReduceMean, bind_parallel(allreduce_mean_kernel, parallel));
}

}  // namespace advmoe
