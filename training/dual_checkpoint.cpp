// Loading the halves of a dual model.
#include "training/dual_checkpoint.h"

#include "models/dual_model.h"
#include "models/registry.h"
#include "training/checkpoint.h"

namespace advmoe {

namespace {

// Loads the parameters and buffers of `path`, a single model's checkpoint, into the half `scope`
// ("std." or "rob.") of `dual`. Throws naming the file unless it holds exactly that half's model.
void load_half(const std::string& path, const Model& dual, const std::string& scope,
               Variables& variables) {
  ADVMOE_CHECK(dual.dual, "load_half needs a dual model");
  const ModelConfig& config = scope == kStandardScope ? dual.dual->standard : dual.dual->robust;
  Model single = build_model(config);
  Variables loaded(variables.backend());
  load_checkpoint_tensors(path, single, loaded, /*with_optimizer=*/false);
  copy_parameters_and_buffers(single, loaded, variables, scope);
}

// The dual model of two single-model checkpoints: their headers must agree on dataset, input
// shape and class count (else an error naming both files and the field).
Model build_dual_from_checkpoints(const std::string& standard_path, const std::string& robust_path,
                                  double alpha, int64_t batch) {
  check_alpha(alpha);
  CheckpointHeader s = read_checkpoint_header(standard_path);
  CheckpointHeader r = read_checkpoint_header(robust_path);
  const std::string both = "'" + standard_path + "' (standard) and '" + robust_path + "' (robust)";
  ADVMOE_CHECK(s.state.dataset == r.state.dataset,
               both << " were trained on different datasets: " << s.state.dataset << " and "
                    << r.state.dataset);
  ADVMOE_CHECK(
      s.model.classes == r.model.classes,
      both << " have different class counts: " << s.model.classes << " and " << r.model.classes);
  ADVMOE_CHECK(s.model.image == r.model.image,
               both << " read different images: " << s.model.image << " and " << r.model.image);
  s.model.batch = batch;
  r.model.batch = batch;
  return build_dual_model(s.model, r.model, alpha);
}

}  // namespace

Model load_dual_model(const std::vector<std::string>& paths, double alpha, int64_t batch,
                      Variables& variables) {
  ADVMOE_CHECK(paths.size() == 1 || paths.size() == 2,
               "a dual model comes from one dual checkpoint or two single ones, got "
                   << paths.size() << " files");
  if (paths.size() == 2) {
    ADVMOE_CHECK(alpha >= 0, "the dual model of two checkpoints needs an alpha");
    Model model = build_dual_from_checkpoints(paths[0], paths[1], alpha, batch);
    load_half(paths[0], model, kStandardScope, variables);
    load_half(paths[1], model, kRobustScope, variables);
    return model;
  }
  CheckpointHeader h = read_checkpoint_header(paths[0]);
  ADVMOE_CHECK(h.dual_alpha >= 0,
               "'" << paths[0]
                   << "' holds a single model, not a dual one (no attribute "
                      "dual_alpha); give the standard and the robust checkpoint");
  h.model.batch = batch;
  Model model = build_dual_model(h.model, h.model, alpha >= 0 ? alpha : h.dual_alpha);
  load_checkpoint_tensors(paths[0], model, variables, /*with_optimizer=*/false);
  return model;
}

}  // namespace advmoe
