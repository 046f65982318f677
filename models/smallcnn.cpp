// SmallCNN: the first model, sized so one Fashion-MNIST epoch fits in minutes on two cores.
#include "models/smallcnn.h"

#include <string>

#include "models/param_builder.h"
#include "ops/basic.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "ops/pooling.h"

namespace advmoe {

Val build_smallcnn(Model& model) {
  ParamBuilder p(model);
  const int64_t base[] = {32, 64, 128, 256};
  Val x = model.input;
  for (int stage = 0; stage < 4; ++stage) {
    std::string id = std::to_string(stage + 1);
    // moe: every conv but the first is an MoE layer.
    Val y = stage == 0 ? conv(x, p, "conv" + id, p.width(base[stage]), 3, 1, 1)
                       : moe_conv(x, p, "conv" + id, p.width(base[stage]), 3, 1, 1);
    x = relu(bn(y, p, "bn" + id));
    if (stage < 3) x = max_pool(x, 2, 2, 0, "pool" + id);
  }
  x = global_avg_pool(x, "gap");
  return classifier(x, p, "fc", model.config.classes);
}

}  // namespace advmoe
