// The closed list of node kinds. Each has an OpDef (ops/op_registry.h) with its shape rule and
// gradient rule, a reference kernel and a oneDNN/OpenMP kernel.
#pragma once

namespace advmoe {

enum class Op {
  Fill,
  Conv2d,
  Conv2dBackwardData,
  Conv2dBackwardWeights,
  ChannelSum,
  BatchNorm,
  BatchNormBackwardData,
  BatchNormBackwardParams,
  Relu,
  ReluBackward,
  Add,
  AddN,
  Mul,
  Scale,
  MaxPool,
  MaxPoolBackward,
  AvgPool,
  AvgPoolBackward,
  GlobalAvgPool,
  GlobalAvgPoolBackward,
  Linear,
  LinearBackwardData,
  LinearBackwardWeights,
  Reshape,
  StopGradient,
  SoftmaxCrossEntropy,
  SoftmaxCrossEntropyBackward,
  LogSoftmax,
  LogSoftmaxBackward,
  KlDiv,
  KlDivBackward,
  Sum,
  Mean,
  BroadcastScalar,
  Concat,
  ChannelSlice,
  ChannelAffine,
  Top1,
  Top1Backward,
  ExpertConv,
  ExpertConvBackwardData,
  ExpertConvBackwardWeights,
  ChannelGate,
  ChannelGateBackward,
  BalanceLoss,
  BalanceLossBackward,
  PgdStep,
  PgdStart,
  kCount
};

}  // namespace advmoe
