// A built model: its graph (owned here, since Vals point into it), the input/label/logit values,
// and how each parameter and buffer is initialized.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "graph/graph.h"

namespace advmoe {

enum class InitKind { KaimingNormalFanOut, Normal, Zeros, Ones };

struct ParamInit {
  InitKind kind = InitKind::Zeros;
  double stddev = 0.0;  // Normal only
};

struct ModelConfig {
  std::string arch = "smallcnn";
  int64_t batch = 128;
  Shape image{28, 28, 1};  // [H, W, C]
  int classes = 10;
  double width = 1.0;  // channel multiplier (S-Dense uses r < 1)
  DType dtype = DType::F32;
};

struct Model {
  ModelConfig config;
  std::unique_ptr<Graph> graph;
  Val images;                              // Input "images" [B, H, W, C] in [0, 1]
  Val labels;                              // Input "labels" [B], i32
  Val logits;                              // Output "logits" [B, classes]
  std::map<std::string, ParamInit> inits;  // every Param and Buffer by name

  int64_t num_parameters() const;  // trainable elements (Params only)
};

}  // namespace advmoe
