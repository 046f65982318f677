// How an AutoAttack evaluation (EvaluationCascade) is reported: a table with warnings on the
// terminal, a JSON file, and the worst-case images with per-sample outcomes in HDF5
// (docs/evaluation.md).
#pragma once

#include <string>

#include "training/attacks/autoattack.h"

namespace advmoe {

// JSON of the result (per attack and per class counts, RA, seconds, MoE route changes).
std::string cascade_json(const CascadeResult& r, const CascadeConfig& c,
                         const std::string& checkpoint);
// The worst-case images and per-sample outcome as HDF5 (layout: docs/evaluation.md).
void save_adversarial(const std::string& path, const CascadeResult& r, const Dataset& test,
                      const CascadeConfig& c);
// Prints the per-attack table and warnings.
void print_cascade(const CascadeResult& r, const CascadeConfig& c);

}  // namespace advmoe
