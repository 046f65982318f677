// Wide ResNet for CIFAR-sized inputs.
#include "models/wide_resnet.h"

#include "models/param_builder.h"
#include "ops/basic.h"
#include "ops/linear.h"
#include "ops/pooling.h"
#include "runtime/error.h"

namespace advmoe {

namespace {

// Pre-activation block. When the width changes, the shortcut (a 1x1 conv) also reads the
// activated input, as in the reference implementation. In the moe variant the block convs and
// the 1x1 shortcut are MoE layers (the public AdvMoE code's choice).
Val wide_block(Val x, const ParamBuilder& p, int64_t planes, int stride) {
  bool same_width = x.shape()[3] == planes;
  Val activated = relu(bn(x, p, "bn1"));
  Val out = moe_conv(activated, p, "conv1", planes, 3, stride, 1);
  out = moe_conv(relu(bn(out, p, "bn2")), p, "conv2", planes, 3, 1, 1);
  Val skip = same_width ? x : moe_conv(activated, p, "convShortcut", planes, 1, stride, 0);
  return out + skip;
}

}  // namespace

Val build_wide_resnet(Model& model, int depth, int widen) {
  ADVMOE_CHECK((depth - 4) % 6 == 0, "wide resnet depth must be 6n + 4, got " << depth);
  int blocks = (depth - 4) / 6;
  ParamBuilder p(model);
  const int64_t widths[] = {16 * widen, 32 * widen, 64 * widen};
  Val x = conv(model.input, p, "conv1", p.width(16), 3, 1, 1);
  for (int group = 0; group < 3; ++group)
    for (int i = 0; i < blocks; ++i) {
      ParamBuilder b =
          p.scoped("block" + std::to_string(group + 1)).scoped("layer").scoped(std::to_string(i));
      x = wide_block(x, b, p.width(widths[group]), group > 0 && i == 0 ? 2 : 1);
    }
  x = global_avg_pool(relu(bn(x, p, "bn1")), "avgpool");
  int classes = model.config.classes;
  return classifier(x, p, "fc", classes);
}

}  // namespace advmoe
