// The SGD update nodes of one parameter group.
#include "training/sgd.h"

#include "ops/optimizer.h"

namespace advmoe {

SgdUpdate add_sgd_update(Graph& g, const std::vector<ValueId>& params, const Gradients& grads,
                         const SgdConfig& config, const std::string& learning_rate) {
  SgdUpdate update;
  update.learning_rate = learning_rate;
  Val lr{&g, g.input(learning_rate, Shape{})};
  const SgdAttrs attrs{config.momentum, config.weight_decay, config.nesterov};
  for (ValueId p : params) {
    const std::string name = g.value(p).name;  // a copy: adding values moves the value table
    const std::string momentum = "momentum/" + name;
    ValueId m = g.has(momentum) ? g.find(momentum) : g.state(momentum, g.value(p).shape);
    Val token = sgd_update(Val{&g, p}, Val{&g, grads[p]}, Val{&g, m}, lr, attrs);
    g.mark_output(token.id, learning_rate + "/" + name);
    update.tokens.push_back(token.id);
  }
  return update;
}

}  // namespace advmoe
