// DenseNet-BC for CIFAR-sized inputs.
#include "models/densenet.h"

#include "models/param_builder.h"
#include "ops/basic.h"
#include "ops/concat.h"
#include "ops/linear.h"
#include "ops/pooling.h"
#include "runtime/error.h"

namespace advmoe {

namespace {

Val bottleneck(Val x, const ParamBuilder& p, int64_t growth) {
  // moe: both convs of every dense layer are MoE layers (our design; the public code's
  // DenseNet-MoE does not run). Stem and transitions stay dense.
  Val out = moe_conv(relu(bn(x, p, "bn1")), p, "conv1", 4 * growth, 1, 1, 0);
  out = moe_conv(relu(bn(out, p, "bn2")), p, "conv2", growth, 3, 1, 1);
  return concat_channels({x, out});
}

Val transition(Val x, const ParamBuilder& p, int64_t out_planes) {
  return avg_pool(conv(relu(bn(x, p, "bn1")), p, "conv1", out_planes, 1, 1, 0), 2, 2);
}

}  // namespace

Val build_densenet_bc(Model& model, int depth, int growth) {
  ADVMOE_CHECK((depth - 4) % 6 == 0, "DenseNet-BC depth must be 6n + 4, got " << depth);
  int layers = (depth - 4) / 6;
  ParamBuilder p(model);
  int64_t k = p.width(growth);
  Val x = conv(model.input, p, "conv1", 2 * k, 3, 1, 1);
  for (int block = 1; block <= 3; ++block) {
    ParamBuilder b = p.scoped("block" + std::to_string(block)).scoped("layer");
    for (int i = 0; i < layers; ++i) x = bottleneck(x, b.scoped(std::to_string(i)), k);
    if (block < 3) x = transition(x, p.scoped("trans" + std::to_string(block)), x.shape()[3] / 2);
  }
  x = global_avg_pool(relu(bn(x, p, "bn1")), "avgpool");
  int classes = model.config.classes;
  return classifier(x, p, "fc", classes);
}

}  // namespace advmoe
