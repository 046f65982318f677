// advmoe export --compact: a structured Sparse-CNN checkpoint as the dense model it really is
// (S-Dense at ratio = keep: only the kept filters, their input channels, their BN entries and
// classifier columns), which runs at S-Dense cost and gives the masked model's logits.
#include <cstdio>

#include "backends/backends.h"
#include "models/flops.h"
#include "models/registry.h"
#include "models/sparse_model.h"
#include "tools/options.h"
#include "training/checkpoint.h"

namespace advmoe {

int cmd_export(const std::vector<std::string>& args) {
  std::string checkpoint, out;
  bool compact = false;
  po::options_description o("export options");
  auto add = o.add_options();
  add("checkpoint", po::value(&checkpoint)->required(), "a structured sparse checkpoint");
  add("compact", po::bool_switch(&compact), "write the compact dense model (required)");
  add("out", po::value(&out)->required(), "the compact model's checkpoint");
  po::variables_map vm;
  if (!parse_command("export", "Export a structured Sparse-CNN as a compact dense model.", o, args,
                     vm))
    return 0;
  require(compact, "export", "--compact is the one export there is; give it");
  CheckpointHeader header = read_checkpoint_header(checkpoint);
  ModelConfig mc = header.model;
  mc.batch = 1;
  require(mc.variant == "sparse" && mc.mask == "structured", "export",
          "--compact needs a structured sparse checkpoint; '" + checkpoint + "' holds a " +
              mc.variant +
              (mc.variant == "sparse" ? " model with " + mc.mask + " masks" : " model"));
  Model sparse = build_model(mc);
  auto backend = make_backend("reference");
  Variables variables(*backend);
  load_checkpoint_tensors(checkpoint, sparse, variables, /*with_optimizer=*/false);
  std::map<std::string, Tensor> tensors;
  for (ValueId v = 0; v < sparse.graph->num_values(); ++v) {
    const ValueInfo& info = sparse.graph->value(v);
    if (info.role == Role::Param || info.role == Role::Buffer)
      tensors[info.name] = variables.get(info.name);
  }
  Model compact_model = build_model(compact_config(sparse));
  std::map<std::string, Tensor> kept = compact_tensors(sparse, tensors, compact_model);
  Variables compact_variables(*backend);
  for (const auto& [name, t] : kept) compact_variables.set(name, t);
  RunState state = header.state;
  state.config_ini =
      "# exported by advmoe export --compact from " + checkpoint + "\n" + header.state.config_ini;
  save_checkpoint(out, compact_model, compact_variables, state);
  std::printf(
      "%s: %s sparse (structured, keep %.4g) -> %s: %s sdense r=%.4g, %lld parameters (the masked "
      "model: %lld), %.4f GMACs per sample (the masked model on dense kernels: %.4f)\n",
      checkpoint.c_str(), mc.arch.c_str(), mc.keep, out.c_str(), mc.arch.c_str(),
      compact_model.config.ratio, static_cast<long long>(compact_model.num_parameters()),
      static_cast<long long>(sparse.num_parameters()), count_macs(compact_model).pathway / 1e9,
      count_macs(sparse).pathway / 1e9);
  return 0;
}

}  // namespace advmoe
