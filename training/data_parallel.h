// Checks that keep a data-parallel run honest (docs/distributed.md): every rank must start from
// the same configuration, data and build, and the ranks' parameters must stay identical (they
// apply the same averaged gradients). A mismatch stops every rank with an error naming the rank
// and what differs, instead of training P different models that only look like one.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "compile/variables.h"
#include "models/model.h"

namespace advmoe {

// (field, value) pairs each rank computes the same way; throws on every rank, naming the first
// rank and field that differ from rank 0's. A single process passes trivially.
void check_same_configuration(const std::vector<std::pair<std::string, std::string>>& fields);

// 64-bit FNV-1a of bytes (fingerprints of data and tensors).
uint64_t fingerprint(const void* data, size_t bytes, uint64_t seed = 0xcbf29ce484222325ull);

// Every Param and State (momentum) of `model` must be bit-identical on all ranks; `when` goes
// into the error ("after epoch 3"). BN running statistics may differ (per-rank statistics, as
// DDP) and are not compared.
void check_ranks_agree(const Model& model, Variables& variables, const std::string& when);

}  // namespace advmoe
