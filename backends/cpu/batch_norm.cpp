// batch_norm on oneDNN (forward in both modes, backward_data in train mode; in eval mode that is
// a per-channel scale, an OpenMP loop). The running-stat update (PyTorch convention) and the
// dgamma/dbeta sums are OpenMP loops too: oneDNN has no running statistics, and a separate params
// node lets an attack skip them.
#include <cmath>
#include <cstring>
#include <vector>

#include <omp.h>

#include "backends/cpu/onednn_backend.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

using namespace dnnl;

class BatchNormForward : public OnednnKernel {
 public:
  explicit BatchNormForward(const KernelArgs& a) : OnednnKernel(a) {
    const BatchNormAttrs attrs = std::get<BatchNormAttrs>(a.node.attrs);
    bool train = a.mode == Mode::Train;
    memory::desc data = activation_desc(a.inputs[0].shape());
    auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
    if (!train) flags = flags | normalization_flags::use_global_stats;
    batch_normalization_forward::primitive_desc pd(
        batch_normalization_forward::desc(
            train ? prop_kind::forward_training : prop_kind::forward_inference, data,
            static_cast<float>(attrs.eps), flags),
        user_scratchpad(), backend_.engine());
    const Tensor &running_mean = a.inputs[3], &running_var = a.inputs[4];
    const Tensor &saved_mean = a.outputs[1], &saved_var = a.outputs[2];
    int64_t c = saved_mean.numel();
    memory::desc vec = flat_desc(c);
    add_primitive(batch_normalization_forward(pd),
                  {{DNNL_ARG_SRC, wrap(a.inputs[0], data)},
                   {DNNL_ARG_DST, wrap(a.outputs[0], data)},
                   {DNNL_ARG_SCALE, wrap(a.inputs[1], vec)},
                   {DNNL_ARG_SHIFT, wrap(a.inputs[2], vec)},
                   {DNNL_ARG_MEAN, wrap(train ? saved_mean : running_mean, vec)},
                   {DNNL_ARG_VARIANCE, wrap(train ? saved_var : running_var, vec)}},
                  pd.scratchpad_desc());
    float *rm = running_mean.data<float>(), *rv = running_var.data<float>();
    float *sm = saved_mean.data<float>(), *sv = saved_var.data<float>();
    if (train) {
      double m = attrs.momentum;
      int64_t rows = a.inputs[0].numel() / c;
      double unbias = rows > 1 ? static_cast<double>(rows) / (rows - 1) : 1.0;
      add_host_step([=] {
        for (int64_t k = 0; k < c; ++k) {
          rm[k] = static_cast<float>((1 - m) * rm[k] + m * sm[k]);
          rv[k] = static_cast<float>((1 - m) * rv[k] + m * sv[k] * unbias);
        }
      });
    } else {
      add_host_step([=] {
        std::memcpy(sm, rm, sizeof(float) * static_cast<size_t>(c));
        std::memcpy(sv, rv, sizeof(float) * static_cast<size_t>(c));
      });
    }
  }
};

class BatchNormBackwardData : public OnednnKernel {
 public:
  explicit BatchNormBackwardData(const KernelArgs& a) : OnednnKernel(a) {
    float eps = static_cast<float>(std::get<BatchNormAttrs>(a.node.attrs).eps);
    memory::desc data = activation_desc(a.inputs[1].shape());
    // Train mode only (eval mode is make_eval_backward_data_kernel).
    auto flags = normalization_flags::use_scale;
    batch_normalization_forward::primitive_desc hint(
        batch_normalization_forward::desc(prop_kind::forward_training, data, eps, flags),
        user_scratchpad(), backend_.engine());
    // oneDNN 2.6 has no backward_data kernel with a scale; prop `backward` computes dgamma too,
    // into a buffer we discard (the params node owns dgamma, so attacks can skip it).
    batch_normalization_backward::primitive_desc pd(
        batch_normalization_backward::desc(prop_kind::backward, data, data, eps, flags),
        user_scratchpad(), backend_.engine(), hint);
    memory::desc vec = flat_desc(a.inputs[2].numel());
    add_primitive(batch_normalization_backward(pd),
                  {{DNNL_ARG_DIFF_DST, wrap(a.inputs[0], data)},
                   {DNNL_ARG_SRC, wrap(a.inputs[1], data)},
                   {DNNL_ARG_SCALE, wrap(a.inputs[2], vec)},
                   {DNNL_ARG_MEAN, wrap(a.inputs[3], vec)},
                   {DNNL_ARG_VARIANCE, wrap(a.inputs[4], vec)},
                   {DNNL_ARG_DIFF_SRC, wrap(a.outputs[0], data)},
                   {DNNL_ARG_DIFF_SCALE, owned(vec)}},
                  pd.scratchpad_desc());
  }
};

// Eval mode: the statistics are constants, so dx = dy * gamma / sqrt(var + eps), one scale per
// channel. oneDNN's backward primitive (above) would also reduce dgamma over the whole batch,
// which made this node 3x the cost of the forward in every attack step; a scaling pass reads dy
// once and writes dx once.
std::unique_ptr<Kernel> make_eval_backward_data_kernel(const KernelArgs& a) {
  const Tensor &dy_t = a.inputs[0], &gamma_t = a.inputs[2], &var_t = a.inputs[4];
  int64_t c = gamma_t.numel(), rows = dy_t.numel() / c;
  double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
  const float *dy = dy_t.data<float>(), *gamma = gamma_t.data<float>(), *var = var_t.data<float>();
  float* dx = a.outputs[0].data<float>();
  auto scale = std::make_shared<std::vector<float>>(static_cast<size_t>(c));
  return std::make_unique<LoopKernel>([=] {
    float* s = scale->data();
    for (int64_t k = 0; k < c; ++k)
      s[k] = static_cast<float>(gamma[k] / std::sqrt(static_cast<double>(var[k]) + eps));
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
      for (int64_t k = 0; k < c; ++k) dx[r * c + k] = dy[r * c + k] * s[k];
  });
}

// dgamma = sum dy * xhat, dbeta = sum dy over rows. Rows are split among threads, each summing
// into its own row of `partial` (channels are contiguous in NHWC), then the rows are added.
std::unique_ptr<Kernel> make_params_kernel(const KernelArgs& a) {
  const Tensor &dy_t = a.inputs[0], &x_t = a.inputs[1];
  int64_t c = a.inputs[2].numel(), rows = x_t.numel() / c;
  double eps = std::get<BatchNormAttrs>(a.node.attrs).eps;
  const float *dy = dy_t.data<float>(), *x = x_t.data<float>();
  const float *mean = a.inputs[2].data<float>(), *var = a.inputs[3].data<float>();
  float *dgamma = a.outputs[0].data<float>(), *dbeta = a.outputs[1].data<float>();
  int threads = omp_get_max_threads();
  auto partial = std::make_shared<std::vector<double>>(static_cast<size_t>(2 * threads * c));
  return std::make_unique<LoopKernel>([=] {
    std::fill(partial->begin(), partial->end(), 0.0);
#pragma omp parallel num_threads(threads)
    {
      double* sums = partial->data() + 2 * c * omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < c; ++k) {
          double d = dy[r * c + k];
          sums[k] += d * (x[r * c + k] - mean[k]);
          sums[c + k] += d;
        }
    }
    for (int64_t k = 0; k < c; ++k) {
      double g = 0, b = 0;
      for (int t = 0; t < threads; ++t) {
        g += (*partial)[static_cast<size_t>(2 * c * t + k)];
        b += (*partial)[static_cast<size_t>(2 * c * t + c + k)];
      }
      dgamma[k] = static_cast<float>(g / std::sqrt(var[k] + eps));
      dbeta[k] = static_cast<float>(b);
    }
  });
}

}  // namespace

void add_onednn_batch_norm(KernelTable& t) {
  // Synchronized train-mode nodes (--sync-bn) sum their statistics over the ranks: host loops.
  put(t, Op::BatchNorm, [](const KernelArgs& a) -> std::unique_ptr<Kernel> {
    if (synchronized_train(a)) return sync_batch_norm_forward(a, /*parallel=*/true);
    return std::make_unique<BatchNormForward>(a);
  });
  put(t, Op::BatchNormBackwardData, [](const KernelArgs& a) -> std::unique_ptr<Kernel> {
    if (synchronized_train(a)) return sync_batch_norm_backward_data(a, /*parallel=*/true);
    if (a.mode == Mode::Eval) return make_eval_backward_data_kernel(a);
    return std::make_unique<BatchNormBackwardData>(a);
  });
  put(t, Op::BatchNormBackwardParams, make_params_kernel);
}

}  // namespace advmoe
