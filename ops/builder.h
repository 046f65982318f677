// Internal helper for builder functions: append one node and wrap its outputs as Vals.
#pragma once

#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "runtime/error.h"

namespace advmoe {

inline std::vector<Val> emit(Graph& g, Op op, const std::string& name, std::vector<Val> inputs,
                             Attrs attrs = NoAttrs{}) {
  std::vector<ValueId> ids;
  for (const Val& v : inputs) {
    ADVMOE_CHECK(v.graph == &g, "node '" << name << "': an input belongs to another graph");
    ids.push_back(v.id);
  }
  std::vector<Val> out;
  for (ValueId id : add_op(g, op, name, std::move(ids), std::move(attrs))) out.push_back({&g, id});
  return out;
}

inline Val emit1(Graph& g, Op op, const std::string& name, std::vector<Val> inputs,
                 Attrs attrs = NoAttrs{}) {
  return emit(g, op, name, std::move(inputs), std::move(attrs)).at(0);
}

}  // namespace advmoe
