// Checkpoints and the dual model (docs/dual.md): the dual model of two single-model checkpoints
// (one half each, two separately trained MoEs) or of one JTDMoE checkpoint, which holds both
// halves ("std.*", "rob.*") and the attribute dual_alpha.
#pragma once

#include <string>
#include <vector>

#include "compile/variables.h"
#include "models/model.h"

namespace advmoe {

// The dual model of `paths` with its weights in `variables`: two single-model checkpoints
// (standard, robust) or one dual checkpoint (JTDMoE) holding both halves. `alpha` < 0: a dual
// checkpoint's own alpha (two single checkpoints then need one). Built at `batch`.
Model load_dual_model(const std::vector<std::string>& paths, double alpha, int64_t batch,
                      Variables& variables);

}  // namespace advmoe
