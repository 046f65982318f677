// Training pieces: SGD against a hand computation, the cosine schedule, reproducible steps,
// NaN detection with the step number, and a short real Fashion-MNIST run that must learn.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>

#include "backends/backends.h"
#include "compile/autodiff.h"
#include "datasets/registry.h"
#include "models/registry.h"
#include "training/sgd.h"
#include "training/trainer.h"

using namespace advmoe;

BOOST_AUTO_TEST_SUITE(training)

BOOST_AUTO_TEST_CASE(sgd_update_nodes_match_pytorch_rule) {
  for (const char* name : {"reference", "onednn"}) {
    BOOST_TEST_CONTEXT(name) {
      auto backend = make_backend(name);
      Variables vars(*backend);
      Graph graph;
      ValueId w = graph.param("w", {2});
      Gradients grads;
      grads.of[w] = graph.input(grad_name("w"), {2});
      SgdUpdate update = add_sgd_update(graph, {w}, grads, SgdConfig{0.9, 0.1, false}, "lr");
      BOOST_TEST((graph.value(graph.find("momentum/w")).role == Role::State));
      auto plan = compile(graph, vars, {Mode::Train, update.tokens});
      Tensor p = Tensor::zeros({2}, DType::F32), g = p.clone(), lr = Tensor::zeros({}, DType::F32);
      p.data<float>()[0] = 1.0f;
      p.data<float>()[1] = -2.0f;
      g.data<float>()[0] = 0.5f;
      g.data<float>()[1] = 0.25f;
      lr.data<float>()[0] = 0.1f;
      vars.set("w", p);
      vars.set(grad_name("w"), g);
      vars.set("lr", lr);
      plan->run();
      // d = g + 0.1 p = {0.6, 0.05}; buf = d; p -= 0.1 d
      BOOST_TEST(vars.get("w").item(0) == 1.0 - 0.06, boost::test_tools::tolerance(1e-6));
      BOOST_TEST(vars.get("w").item(1) == -2.0 - 0.005, boost::test_tools::tolerance(1e-6));
      BOOST_TEST(vars.get("lr/w").item(0) == 0.1, boost::test_tools::tolerance(1e-6));
      plan->run();
      // d = {0.5 + 0.094, 0.25 - 0.2005}; buf = 0.9 * {0.6, 0.05} + d
      double d0 = 0.5 + 0.1 * 0.94, buf0 = 0.9 * 0.6 + d0;
      BOOST_TEST(vars.get("w").item(0) == 0.94 - 0.1 * buf0, boost::test_tools::tolerance(1e-6));
      BOOST_TEST(vars.get("momentum/w").item(0) == buf0, boost::test_tools::tolerance(1e-6));
      // The learning rate is an input: a new value takes effect without recompiling.
      lr.data<float>()[0] = 0.0f;
      vars.set("lr", lr);
      Tensor before = vars.get("w").clone();
      plan->run();
      BOOST_TEST(vars.get("w").item(0) == before.item(0));
    }
  }
}

BOOST_AUTO_TEST_CASE(cosine_schedule) {
  LrSchedule s{ScheduleKind::Cosine, 0.2, 100};
  BOOST_TEST(s.at(0) == 0.2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.at(50) == 0.1, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.at(25) == 0.1 * (1 + std::cos(M_PI / 4)), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.at(100) == 0.0, boost::test_tools::tolerance(1e-12));
  BOOST_CHECK_THROW(parse_schedule("step"), Error);
  BOOST_TEST((parse_schedule("constant") == ScheduleKind::Constant));
}

namespace {
Dataset small_train() {
  return load_dataset("fashion-mnist", "", "train", 2048);
}

// A quarter-width SmallCNN at batch 64: small enough for many steps in a test.
Model tiny_model() {
  ModelConfig mc;
  mc.batch = 64;
  mc.width = 0.25;
  return build_model(mc);
}
}  // namespace

BOOST_AUTO_TEST_CASE(same_seed_same_parameters_bit_for_bit) {
  Dataset train = small_train().head(256);
  std::vector<Tensor> finals[2];
  for (int run = 0; run < 2; ++run) {
    Model model = tiny_model();
    auto backend = make_backend("onednn");
    TrainConfig tc;
    tc.seed = 17;
    Trainer trainer(model, *backend, tc);
    trainer.set_total_steps(4);
    trainer.train_epoch(train, 1, nullptr);
    for (ValueId p : model.graph->params())
      finals[run].push_back(trainer.variables().get(model.graph->value(p).name).clone());
  }
  for (size_t i = 0; i < finals[0].size(); ++i)
    BOOST_TEST(std::memcmp(finals[0][i].raw(), finals[1][i].raw(), finals[0][i].bytes()) == 0);
}

BOOST_AUTO_TEST_CASE(diverging_loss_stops_with_the_step) {
  Dataset train = small_train().head(512);
  Model model = tiny_model();
  auto backend = make_backend("onednn");
  TrainConfig tc;
  tc.lr = 1e30;
  tc.schedule = ScheduleKind::Constant;
  Trainer trainer(model, *backend, tc);
  try {
    trainer.train_epoch(train, 1, nullptr);
    BOOST_FAIL("a learning rate of 1e30 did not diverge");
  } catch (const Error& e) {
    std::string m = e.what();
    BOOST_TEST(m.find("diverged") != std::string::npos);
    BOOST_TEST(m.find("step") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(small_cnn_learns_fashion_mnist) {
  Dataset train = small_train();
  Dataset test = load_dataset("fashion-mnist", "", "test", 1000);
  ModelConfig mc;
  mc.batch = 64;
  mc.width = 0.5;
  Model model = build_model(mc);
  auto backend = make_backend("onednn");
  TrainConfig tc;
  tc.epochs = 2;
  tc.lr = 0.05;
  Trainer trainer(model, *backend, tc);
  trainer.set_total_steps(2 * train.size() / 64);
  EvalResult before = trainer.evaluate(test);
  EpochMetrics first = trainer.train_epoch(train, 1, nullptr);
  EpochMetrics second = trainer.train_epoch(train, 2, nullptr);
  EvalResult after = trainer.evaluate(test);
  BOOST_TEST(second.train_loss < first.train_loss);
  BOOST_TEST(after.loss < before.loss);
  BOOST_TEST(after.accuracy > 0.70, "test accuracy " << after.accuracy);
  BOOST_TEST(after.examples == 1000);
}

BOOST_AUTO_TEST_SUITE_END()
