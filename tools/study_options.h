// What `advmoe dissect` and `advmoe iou` share: their options (checkpoint, data, the attack) and
// loading an MoE checkpoint with its test set for a route study (training/route_study.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compile/variables.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "tools/attack_options.h"
#include "tools/device_options.h"
#include "training/checkpoint.h"
#include "training/route_study.h"

namespace advmoe {

struct StudyOptions {
  std::string checkpoint, dataset, data_dir, csv, json;
  DeviceOptions device;
  int batch = 250, threads = 0, apgd_iterations = 100, square_queries = 5000;
  int64_t test_limit = 0;
  uint64_t seed = 0;
  AttackOptions attack;
};

void add_study_options(po::options_description& o, StudyOptions& s);

// An MoE checkpoint loaded for a study, with its test set and the attack.
struct Loaded {
  CheckpointHeader header;
  Model model;
  std::shared_ptr<Backend> backend;
  std::unique_ptr<Variables> variables;
  Dataset test;
  StudyAttack attack;
};

// Validates the options (UsageError naming `command`) and loads; the checkpoint must be an MoE.
Loaded load_study(const std::string& command, StudyOptions& s);

// "[1, 2, 3]".
std::string json_counts(const std::vector<int64_t>& v);
// The MoE layers' module names, in model.routes' order.
std::vector<std::string> layer_names(const Model& m);

}  // namespace advmoe
