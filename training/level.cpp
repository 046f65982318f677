// A level's Plan: forward, group gradients and update in one run.
#include "training/level.h"

#include "training/gradient_allreduce.h"

namespace advmoe {

double read_scalar(Variables& variables, const std::string& name) {
  Tensor host = Tensor::zeros(Shape{}, DType::F32);
  variables.backend().copy(host, variables.get(name));
  return host.item(0);
}

void write_scalar(Variables& variables, const std::string& name, double value) {
  Tensor host = Tensor::zeros(Shape{}, DType::F32);
  host.data<float>()[0] = static_cast<float>(value);
  variables.backend().copy(variables.get(name), host);
}

void load_batch(Variables& variables, const Tensor& images, const Tensor& labels) {
  variables.backend().copy(variables.get("images"), images);
  variables.backend().copy(variables.get("labels"), labels);
}

Level::Level(Graph& g, Variables& variables, const std::string& name, ValueId loss,
             const std::vector<ValueId>& params, const std::vector<ValueId>& reported,
             const SgdConfig& sgd, double lr_scale)
    : variables_(variables), loss_(g.value(loss).name), lr_scale_(lr_scale) {
  Gradients grads = autodiff(g, loss, params);
  // Data-parallel: the update reads the gradients' mean over the ranks (a single process: the
  // gradients themselves).
  Gradients applied = average_over_ranks(g, params, grads, name);
  SgdUpdate update = add_sgd_update(g, params, applied, sgd, "learning_rate/" + name);
  learning_rate_ = update.learning_rate;
  CompileOptions options{Mode::Train, {loss}};
  options.targets.insert(options.targets.end(), reported.begin(), reported.end());
  for (ValueId p : params) options.targets.push_back(grads[p]);
  options.targets.insert(options.targets.end(), update.tokens.begin(), update.tokens.end());
  plan_ = compile(g, variables, options);
}

double Level::step(double lr) {
  // The product in double, then rounded once to the f32 input, as the optimizer always did.
  write_scalar(variables_, learning_rate_, lr_scale_ * lr);
  plan_->run();
  return read_scalar(variables_, loss_);
}

}  // namespace advmoe
