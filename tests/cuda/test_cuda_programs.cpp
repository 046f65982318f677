// Whole programs on the GPU against the CPU (oneDNN): one TRADES step and one AdvMoE iteration
// of a ResNet-18 MoE (r = 0.5, N = 2, 32x32x3) from the same initialization on the same batch.
// The two backends sum in different orders, so the attacks' sign steps may flip on pixels whose
// gradient is ~0; the loss and each parameter group's update must still agree closely.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>

#include "../helpers.h"
#include "datasets/batcher.h"
#include "models/registry.h"
#include "ops/backends.h"
#include "runtime/rng.h"
#include "training/adversarial_trainer.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

constexpr int64_t kBatch = 16;

// Random 32x32x3 images with labels 0..9, enough for the AdvMoE router's batches too.
Dataset random_cifar_like(int64_t n) {
  Dataset d;
  d.name = "random";
  d.shape = Shape{n, 32, 32, 3};
  d.num_classes = 10;
  RandomStream noise(7, 7);
  for (int64_t i = 0; i < n * 32 * 32 * 3; ++i)
    d.pixels.push_back(static_cast<uint8_t>(noise.word(static_cast<uint64_t>(i)) & 255));
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  return d;
}

struct Outcome {
  double loss = 0;
  std::map<std::string, Tensor> updates;  // parameter after - before, on the host
};

Tensor to_host(Variables& v, const std::string& name) {
  const Tensor& t = v.get(name);
  Tensor host = Tensor::zeros(t.shape(), t.dtype());
  v.backend().copy(host, t);
  return host;
}

// One iteration of `method` on backend `device` from the seed-0 initialization.
Outcome one_iteration(const std::string& device, const std::string& method, const Dataset& data) {
  ModelConfig mc;
  mc.arch = "resnet18";
  mc.batch = kBatch;
  mc.image = Shape{32, 32, 3};
  mc.variant = "moe";
  mc.ratio = 0.5;
  mc.experts = 2;
  Model model = build_model(mc);
  auto backend = make_backend(device);  // TF32 off: FP32 math on both sides
  AdversarialConfig ac;
  ac.method = method;
  AdversarialTrainer trainer(model, *backend, TrainConfig{}, ac);
  Variables& vars = trainer.variables();
  Tensor images = Tensor::zeros(vars.get("images").shape(), DType::F32),
         labels = Tensor::zeros(vars.get("labels").shape(), DType::I32);
  std::vector<int64_t> order(static_cast<size_t>(kBatch));
  for (int64_t i = 0; i < kBatch; ++i) order[static_cast<size_t>(i)] = i;
  gather_batch(data, order, 0, {}, 0, 0, images, labels);
  backend->copy(vars.get("images"), images);
  backend->copy(vars.get("labels"), labels);
  std::vector<std::string> names;
  for (ValueId p : model.graph->params()) names.push_back(model.graph->value(p).name);
  std::map<std::string, Tensor> before;
  for (const std::string& n : names) before[n] = to_host(vars, n);
  Outcome out;
  out.loss = trainer.iterate(data);
  for (const std::string& n : names) {
    Tensor after = to_host(vars, n);
    for (int64_t i = 0; i < after.numel(); ++i)
      after.data<float>()[i] -= before[n].data<float>()[i];
    out.updates[n] = after;
  }
  return out;
}

void expect_same_outcome(const std::string& method) {
  Dataset data = random_cifar_like(8 * kBatch);
  Outcome cpu = one_iteration("onednn", method, data);
  Outcome gpu = one_iteration("cuda", method, data);
  BOOST_TEST(std::isfinite(cpu.loss));
  BOOST_TEST(std::abs(gpu.loss - cpu.loss) <= 1e-3 * std::abs(cpu.loss),
             method << " loss: cpu " << cpu.loss << " gpu " << gpu.loss);
  int moved = 0;
  for (const auto& [name, update] : cpu.updates) {
    double err = l2_relative_error(gpu.updates.at(name), update);
    BOOST_TEST(err <= 2e-2, method << " update of " << name << ": relative error " << err);
    for (int64_t i = 0; i < update.numel() && moved == 0; ++i) moved += update.item(i) != 0;
  }
  BOOST_TEST(moved > 0, method << ": no parameter moved on the CPU");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cuda_programs)

BOOST_AUTO_TEST_CASE(resnet18_moe_trades_step_matches_cpu) {
  expect_same_outcome("trades");
}

BOOST_AUTO_TEST_CASE(resnet18_moe_advmoe_iteration_matches_cpu) {
  expect_same_outcome("advmoe");
}

BOOST_AUTO_TEST_SUITE_END()
