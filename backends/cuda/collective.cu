// The gradient all-reduce on CUDA: the bucket's tensors are copied into one device buffer on the
// backend's stream, summed over the ranks by NCCL on that same stream (the communicator of
// distributed/, runtime/communicator.h), and scaled by 1 / ranks into the outputs. Stream order
// keeps it after the backward kernels that produced the gradients and before the SGD updates.
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_kernels.h"
#include "runtime/communicator.h"

namespace advmoe {

namespace {

template <typename T>
__global__ void scaled_copy_kernel(const T* src, T* dst, int64_t n, T factor) {
  ADVMOE_GRID_STRIDE(i, n) {
    dst[i] = src[i] * factor;
  }
}

}  // namespace

void add_cuda_collective(KernelTable& t) {
  add_cuda_float(t, Op::AllReduceMean, 0, [](auto tag, const KernelArgs& a) {
    using T = decltype(tag);
    ADVMOE_CHECK((std::is_same<T, float>::value),
                 "allreduce_mean '" << a.node.name << "': the CUDA all-reduce is f32 only");
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
    Tensor staging = a.backend.allocate(Shape{total}, a.inputs[0].dtype());
    return stream_kernel(a, [=](cudaStream_t s) {
      T* buffer = staging.data<T>();
      int64_t offset = 0;
      for (size_t i = 0; i < in.size(); ++i) {
        ADVMOE_CUDA_CHECK(cudaMemcpyAsync(buffer + offset, in[i], sizeof(T) * sizes[i],
                                          cudaMemcpyDeviceToDevice, s));
        offset += sizes[i];
      }
      Communicator& group = world();
      if (group.distributed())
        group.allreduce_sum_device(reinterpret_cast<float*>(buffer), total, s);
      const T factor = T(1) / static_cast<T>(group.size());
      offset = 0;
      for (size_t i = 0; i < in.size(); ++i) {
        scaled_copy_kernel<T>
            <<<blocks_for(sizes[i]), kThreads, 0, s>>>(buffer + offset, out[i], sizes[i], factor);
        offset += sizes[i];
      }
    });
  });
}

}  // namespace advmoe
