// The architecture registry.
#include "models/registry.h"

#include "models/smallcnn.h"
#include "runtime/error.h"

namespace advmoe {

Model build_model(const ModelConfig& config) {
  Model model;
  model.config = config;
  model.graph = std::make_unique<Graph>(config.dtype);
  Graph& g = *model.graph;
  const Shape& s = config.image;
  ADVMOE_CHECK(s.rank() == 3, "model input must be [H, W, C], got " << s);
  model.images = {&g, g.input("images", Shape{config.batch, s[0], s[1], s[2]})};
  model.labels = {&g, g.input("labels", Shape{config.batch}, DType::I32)};
  if (config.arch == "smallcnn")
    model.logits = build_smallcnn(model);
  else
    ADVMOE_FAIL("unknown architecture '" << config.arch << "' (available: smallcnn)");
  g.mark_output(model.logits.id, "logits");
  return model;
}

}  // namespace advmoe
