// ResNet-18 (He et al., 2016) for CIFAR- and ImageNet-sized inputs.
#include "models/resnet.h"

#include "models/param_builder.h"
#include "ops/basic.h"
#include "ops/linear.h"
#include "ops/pooling.h"

namespace advmoe {

namespace {

// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is a strided 1x1 conv
// + BN when the shape changes. In the moe variant both 3x3 convs are MoE layers and the shortcut
// stays dense (the public AdvMoE code's choice).
Val basic_block(Val x, const ParamBuilder& p, int64_t planes, int stride, const char* shortcut) {
  Val out = relu(bn(moe_conv(x, p, "conv1", planes, 3, stride, 1), p, "bn1"));
  out = bn(moe_conv(out, p, "conv2", planes, 3, 1, 1), p, "bn2");
  Val skip = x;
  if (stride != 1 || x.shape()[3] != planes) {
    ParamBuilder s = p.scoped(shortcut);
    skip = bn(conv(x, s, "0", planes, 1, stride, 0), s, "1");
  }
  return relu(out + skip);
}

}  // namespace

Val build_resnet18(Model& model) {
  ParamBuilder p(model);
  const ModelConfig& c = model.config;
  bool imagenet = c.stem == "imagenet";
  // The MoE model keeps a dense 64-channel stem; every later layer is r * C wide.
  int64_t stem = c.variant == "moe" ? 64 : p.width(64);
  Val x = model.input;
  if (imagenet) {
    x = conv_bn_relu(x, p, "conv1", "bn1", stem, 7, 2, 3);
    x = max_pool(x, 3, 2, 1, "maxpool");
  } else {
    x = conv_bn_relu(x, p, "conv1", "bn1", stem, 3, 1, 1);
  }
  const int64_t widths[] = {64, 128, 256, 512};
  for (int layer = 0; layer < 4; ++layer)
    for (int block = 0; block < 2; ++block) {
      ParamBuilder b = p.scoped("layer" + std::to_string(layer + 1)).scoped(std::to_string(block));
      int stride = layer > 0 && block == 0 ? 2 : 1;
      x = basic_block(x, b, p.width(widths[layer]), stride, imagenet ? "downsample" : "shortcut");
    }
  x = global_avg_pool(x, "avgpool");
  const char* head = imagenet ? "fc" : "linear";
  return classifier(x, p, head, c.classes);
}

}  // namespace advmoe
