// HDF5 checkpoints (layout: docs/checkpoint-format.md). Parameters, buffers and momentum are
// stored under PyTorch names in PyTorch order (conv weights OIHW), so h5py, HDFView or MATLAB read
// them as they would a PyTorch state dict. Writes are atomic: temp file, fsync, rename.
#pragma once

#include <string>
#include <vector>

#include "compile/variables.h"
#include "models/model.h"
#include "training/trainer.h"

namespace advmoe {

// Version 2: every tensor and the metrics table carry a Fletcher-32 checksum (version 1 files,
// without them, still load); the optional `final` attribute.
constexpr int kCheckpointFormatVersion = 2;
// Loading refuses an `epoch` attribute above this (a corrupted value would run for ever).
constexpr double kMaxEpochs = 100000;
// Loaded parameters and momentum must be finite and below this in magnitude: a trained
// network's weights are many orders of magnitude smaller, and larger ones overflow float32
// activations into Inf/NaN.
constexpr double kMaxWeightMagnitude = 1e8;
// Buffers (BN running statistics) hold activation means and variances, which legitimately get
// large (a variance of 1.7e8 was seen in a global router's BN); the bound only keeps squares of
// them finite in float32.
constexpr double kMaxBufferMagnitude = 1e18;

// Everything besides tensors that a resumed run needs.
struct RunState {
  std::string dataset;
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // optimizer steps taken
  uint64_t seed = 0;
  std::string config_ini;  // the run's full configuration, as written to config.ini
  std::vector<EpochMetrics> metrics;
  // The run's final evaluation (SA, RA and the attack's full settings) as JSON, once it ran;
  // the same text as the run directory's final.json. Empty before.
  std::string final_json;
};

struct CheckpointHeader {
  ModelConfig model;  // arch, variant, ratio, classes, input shape (batch is not stored)
  // A dual model's checkpoint (JTDMoE, docs/dual.md): its alpha; both halves have `model`'s
  // configuration and their tensors are named "std.*" and "rob.*". -1: a single model.
  double dual_alpha = -1;
  RunState state;
  int format_version = kCheckpointFormatVersion;
};

// Throws naming `path` and every differing field unless the checkpoint's model is `wanted`'s
// (arch, variant, ratio, width, experts, routing, classes, normalization, input shape).
void check_same_model(const std::string& path, const ModelConfig& stored,
                      const ModelConfig& wanted);

void save_checkpoint(const std::string& path, const Model& model, const Variables& variables,
                     const RunState& state);

// Reads metadata only; throws naming the file for non-HDF5, truncated or foreign files and for
// unknown format versions.
CheckpointHeader read_checkpoint_header(const std::string& path);

// Loads parameters and buffers (and momentum when `with_optimizer`) into `variables`, after
// checking that the checkpoint holds exactly the model's tensors with the right shapes and dtypes.
void load_checkpoint_tensors(const std::string& path, const Model& model, Variables& variables,
                             bool with_optimizer);

// --init-from: loads the parameters and buffers of `path` into a model that starts from them.
// The checkpoint must hold the same architecture (arch, classes, input, normalization, width or
// ratio; experts and routing for MoE; keep and mask for sparse), or, for a sparse model, the dense
// model it prunes: then the scores are initialized from the loaded weights (HYDRA's scaled rule)
// and their names are returned. Throws naming the file and field at fault.
std::vector<std::string> load_initial_parameters(const std::string& path, const Model& model,
                                                 Variables& variables);

// Conv weights: our OHWI <-> PyTorch OIHW; other tensors are unchanged.
Tensor to_pytorch_layout(const Tensor& ours);
Tensor from_pytorch_layout(const Tensor& theirs);

}  // namespace advmoe
