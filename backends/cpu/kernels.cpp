// The oneDNN backend's entry: which op runs as a oneDNN primitive and which falls back to the
// shared host loops (OpenMP), each op listed once.
#include "backends/cpu/onednn_backend.h"
#include "backends/host/host_loops.h"

namespace advmoe {

namespace {

// Ops oneDNN has no primitive for (or none faster than a loop): OpenMP host loops.
constexpr Op kHostLoopOps[] = {
    Op::Fill,
    Op::Reshape,
    Op::StopGradient,
    Op::Sum,
    Op::Mean,
    Op::BroadcastScalar,
    Op::FoldBatchNorm,
    Op::ChannelAffine,
    Op::Concat,
    Op::ChannelSlice,
    Op::SoftmaxCrossEntropy,
    Op::SoftmaxCrossEntropyBackward,
    Op::KlDiv,
    Op::KlDivBackward,
    Op::Top1,
    Op::Top1Backward,
    Op::ChannelGate,
    Op::ChannelGateBackward,
    Op::BalanceLoss,
    Op::BalanceLossBackward,
    Op::PgdStep,
    Op::PgdStart,
    Op::SampleLoss,
    Op::SampleLossBackward,
    Op::ApgdStep,
    Op::FabStep,
    Op::SgdUpdate,
    Op::TopkMask,
    Op::AllReduceMean,
};

}  // namespace

void register_onednn_kernels(KernelRegistry& registry) {
  KernelTable table;
  add_onednn_conv(table);         // conv2d (+ backward data / weights), channel_sum
  add_onednn_batch_norm(table);   // batch_norm (+ backward)
  add_onednn_eltwise(table);      // relu, add, add_n, mul, scale, log_softmax (+ backward)
  add_onednn_pooling(table);      // max / avg pooling primitives; global-avg as loops
  add_onednn_linear(table);       // linear as matmul (+ backward)
  add_onednn_expert_conv(table);  // expert_conv: samples grouped per expert, conv primitives
  const KernelTable host = host_loop_kernels(/*parallel=*/true);
  for (Op op : kHostLoopOps) put(table, op, host[static_cast<size_t>(op)]);
  register_table(registry, "onednn", table);
}

}  // namespace advmoe
