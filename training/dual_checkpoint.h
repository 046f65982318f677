// Checkpoints and the dual model (docs/dual.md): a half loaded from a single model's checkpoint
// (the dual model of two separately trained MoEs), and the dual attribute of JTDMoE checkpoints,
// which hold both halves ("std.*", "rob.*") in one file.
#pragma once

#include <string>
#include <vector>

#include "compile/variables.h"
#include "models/model.h"

namespace advmoe {

// Loads the parameters and buffers of `path`, a single model's checkpoint, into the half `scope`
// ("std." or "rob.") of `dual`. Throws naming the file unless it holds exactly that half's model.
void load_half(const std::string& path, const Model& dual, const std::string& scope,
               Variables& variables);

// The dual model of two single-model checkpoints: their headers must agree on dataset, input
// shape and class count (else an error naming both files and the field); `batch` is the
// evaluation batch.
Model build_dual_from_checkpoints(const std::string& standard_path, const std::string& robust_path,
                                  double alpha, int64_t batch);

// The dual model of `paths` with its weights in `variables`: two single-model checkpoints
// (standard, robust) or one dual checkpoint (JTDMoE) holding both halves. `alpha` < 0: a dual
// checkpoint's own alpha (two single checkpoints then need one). Built at `batch`.
Model load_dual_model(const std::vector<std::string>& paths, double alpha, int64_t batch,
                      Variables& variables);

}  // namespace advmoe
