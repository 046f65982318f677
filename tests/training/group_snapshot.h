// Test helpers: copies of one parameter group's tensors, and whether any byte changed since.
#pragma once

#include <cstring>
#include <map>
#include <string>

#include "compile/variables.h"
#include "models/model.h"

namespace advmoe::testing {

inline std::map<std::string, Tensor> snapshot(const Model& m, Variables& v,
                                              const std::string& group) {
  std::map<std::string, Tensor> out;
  for (ValueId p : m.graph->params(group))
    out[m.graph->value(p).name] = v.get(m.graph->value(p).name).clone();
  return out;
}

inline bool changed(const std::map<std::string, Tensor>& before, Variables& v) {
  for (const auto& [name, t] : before)
    if (std::memcmp(t.raw(), v.get(name).raw(), t.bytes()) != 0) return true;
  return false;
}

}  // namespace advmoe::testing
