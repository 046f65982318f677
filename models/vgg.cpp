// VGG-16-BN for CIFAR-sized inputs.
#include "models/vgg.h"

#include "models/param_builder.h"
#include "ops/basic.h"
#include "ops/linear.h"
#include "ops/pooling.h"

namespace advmoe {

Val build_vgg16_bn(Model& model) {
  // 0 marks a max-pool ("M" in the reference's cfg).
  const int64_t cfg[] = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                         0,  512, 512, 512, 0,   512, 512, 512, 0};
  ParamBuilder p(model);
  ParamBuilder features = p.scoped("features");
  Val x = model.input;
  int index = 0;  // position in the reference's nn.Sequential: conv, bn, relu or pool
  for (int64_t width : cfg) {
    if (width == 0) {
      x = max_pool(x, 2, 2, 0, "features." + std::to_string(index++));
      continue;
    }
    // moe: every conv but the first is an MoE layer, without bias (BN follows; expert_conv has
    // none).
    if (index > 0 && model.config.variant == "moe")
      x = moe_conv(x, features, std::to_string(index), p.width(width), 3, 1, 1);
    else
      x = conv(x, features, std::to_string(index), p.width(width), 3, 1, 1, /*bias=*/true);
    x = relu(bn(x, features, std::to_string(index + 1)));
    index += 3;
  }
  x = flatten(x, "flatten");
  int classes = model.config.classes;
  return classifier(x, p, "classifier", classes);
}

}  // namespace advmoe
