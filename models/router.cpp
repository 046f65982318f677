// ResNet-20 router network.
#include "models/router.h"

#include "models/param_builder.h"
#include "ops/basic.h"
#include "ops/linear.h"
#include "ops/pooling.h"

namespace advmoe {

Route build_global_router(Model& model) {
  ParamBuilder p = ParamBuilder(model, "router", "router");
  Val x = conv_bn_relu(model.input, p, "conv1", "bn1", 16, 3, 1, 1);
  const int64_t widths[] = {16, 32, 64};
  for (int layer = 0; layer < 3; ++layer)
    for (int block = 0; block < 3; ++block) {
      ParamBuilder b = p.scoped("layer" + std::to_string(layer + 1)).scoped(std::to_string(block));
      int stride = layer > 0 && block == 0 ? 2 : 1;
      Val out = conv_bn_relu(x, b, "conv1", "bn1", widths[layer], 3, stride, 1);
      out = bn(conv(out, b, "conv2", widths[layer], 3, 1, 1), b, "bn2");
      Val skip = x;
      if (stride != 1 || x.shape()[3] != widths[layer]) {
        ParamBuilder s = b.scoped("shortcut");
        skip = bn(conv(x, s, "0", widths[layer], 1, stride, 0), s, "1");
      }
      x = relu(out + skip);
    }
  x = global_avg_pool(x, "router.avgpool");
  return router(x, p, "linear", "router");
}

}  // namespace advmoe
