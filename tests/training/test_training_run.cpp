// The shipped run loop (TrainingRun, what `advmoe train` runs) resumes bit for bit: a run stopped
// after epoch 1 and resumed from its last.h5 by a fresh process state (new model, backend and
// TrainingRun) ends with the same bytes in every parameter, BN buffer and momentum as the run
// that never stopped, and the same metrics, for standard training, TRADES and both AdvMoE
// presets (two optimizers, two data streams, the attacks' random starts).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../helpers.h"
#include "backends/backends.h"
#include "datasets/registry.h"
#include "models/dual_model.h"
#include "models/registry.h"
#include "training/training_run.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

struct Case {
  const char* name;
  Method method;
  AdvMoePreset preset;
  const char* routing;
  const char* router_input = "pooled";
  double balance_rate = 0;  // the default routing of advmoe train: standardized, 0.1
};

ModelConfig case_model(const Case& c) {
  ModelConfig m;
  m.batch = 32;
  m.width = 0.25;
  m.variant = "moe";
  m.ratio = 0.5;
  m.routing = c.routing;
  m.router_input = c.router_input;
  return m;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `c` to epoch 2 in `dir`: straight through, or stopped after epoch 1 and then resumed.
// Returns the final persistent state (parameters, buffers, momenta) by name.
std::map<std::string, Tensor> run_case(const Case& c, const std::string& dir, bool interrupted,
                                       const Dataset& train, const Dataset& test) {
  TrainConfig tc;
  tc.seed = 6;
  tc.epochs = 2;
  tc.balance_rate = c.balance_rate;
  MethodConfig mc;
  mc.method = c.method;
  mc.preset = c.preset;
  mc.epsilon = 0.1;
  mc.router_lr_scale = 0.4;
  RunConfig rc;
  rc.dir = dir;
  rc.dataset = "fashion-mnist";
  rc.epoch_attack = PgdConfig{0.1, 0.025, 2, PgdStart::Uniform, 6};
  rc.epoch_attack_limit = 32;
  rc.final_attack = PgdConfig{0.1, 0.025, 3, PgdStart::Uniform, 6};
  auto start = [&](std::optional<CheckpointHeader> resume, int stop) {
    auto model = std::make_unique<Model>(c.method == Method::Jtdmoe
                                             ? build_dual_model(case_model(c), case_model(c), 0.7)
                                             : build_model(case_model(c)));
    auto backend = make_backend("onednn");
    RunConfig r = rc;
    r.resume = std::move(resume);
    r.stop_after_epoch = stop;
    TrainingRun run(*model, *backend, tc, mc, r);
    RunResult result = run.run(train, test);
    BOOST_TEST(result.finished == (stop == 0));
    std::map<std::string, Tensor> state;
    const Graph& g = *model->graph;
    for (ValueId v = 0; v < g.num_values(); ++v) {
      const ValueInfo& info = g.value(v);
      if (info.role == Role::Param || info.role == Role::Buffer || info.role == Role::State)
        state[info.name] = run.trainer().variables().get(info.name).clone();
    }
    return state;
  };
  if (!interrupted) return start(std::nullopt, 0);
  start(std::nullopt, 1);  // "killed" after epoch 1: its last.h5 is all that survives
  return start(read_checkpoint_header(dir + "/last.h5"), 0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(training_run)

BOOST_AUTO_TEST_CASE(an_interrupted_and_resumed_run_ends_bit_identical) {
  Dataset train = load_dataset("fashion-mnist", "", "train", 128);
  Dataset test = load_dataset("fashion-mnist", "", "test", 64);
  const Case cases[] = {
      {"standard", Method::Standard, AdvMoePreset::Paper, "layer"},
      {"trades", Method::Trades, AdvMoePreset::Paper, "layer"},
      {"advmoe reference-code", Method::AdvMoe, AdvMoePreset::ReferenceCode, "global"},
      // The paper's AdvMoE with advmoe train's default routers (standardized input, balancing).
      {"advmoe paper, healthy routing", Method::AdvMoe, AdvMoePreset::Paper, "layer",
       "standardized", 0.1},
      // Both halves of the dual model and its two levels in one checkpoint.
      {"jtdmoe, healthy routing", Method::Jtdmoe, AdvMoePreset::Paper, "layer", "standardized",
       0.1}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      TempDir dir;
      auto straight = run_case(c, dir.file("straight"), false, train, test);
      auto resumed = run_case(c, dir.file("resumed"), true, train, test);
      int params = 0, buffers = 0, momenta = 0;
      for (const auto& [name, tensor] : straight) {
        BOOST_TEST(same_bytes(resumed.at(name), tensor), name << " differs after resume");
        params += name.find("weight") != std::string::npos;
        buffers += name.find("running_") != std::string::npos;
        momenta += name.rfind("momentum/", 0) == 0;
      }
      BOOST_TEST(params > 0);
      BOOST_TEST(buffers > 0);
      const int halves = c.method == Method::Jtdmoe ? 2 : 1;
      BOOST_TEST(momenta ==
                 halves * static_cast<int>(build_model(case_model(c)).graph->params().size()));
      // The same reports: metrics.csv rows (but the wall-clock columns) and final.json.
      BOOST_TEST(read_file(dir.file("straight/final.json")) ==
                 read_file(dir.file("resumed/final.json")));
      CheckpointHeader a = read_checkpoint_header(dir.file("straight/last.h5"));
      CheckpointHeader b = read_checkpoint_header(dir.file("resumed/last.h5"));
      BOOST_TEST(a.state.step == b.state.step);
      BOOST_TEST_REQUIRE(a.state.metrics.size() == 2u);
      BOOST_TEST_REQUIRE(b.state.metrics.size() == 2u);
      for (size_t e = 0; e < 2; ++e) {
        BOOST_TEST(a.state.metrics[e].train_loss == b.state.metrics[e].train_loss);
        BOOST_TEST(a.state.metrics[e].test_accuracy == b.state.metrics[e].test_accuracy);
        BOOST_TEST(a.state.metrics[e].robust_accuracy == b.state.metrics[e].robust_accuracy);
        BOOST_TEST(a.state.metrics[e].busiest_clean == b.state.metrics[e].busiest_clean);
      }
      // (JTDMoE's offsets, balanced from the first step, alternate +-0.1 and end at zero after
      // this run's even step count; tests/training/test_dual.cpp checks that they move.)
      if (c.balance_rate > 0 && c.method != Method::Jtdmoe) {
        // The balancer ran: its offsets moved, and were restored exactly (compared above).
        float moved = 0;
        for (const auto& [name, tensor] : straight)
          if (name.find(".balance") != std::string::npos)
            for (int64_t i = 0; i < tensor.numel(); ++i)
              moved = std::max(moved, std::abs(tensor.data<float>()[i]));
        BOOST_TEST(moved > 0.0f);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
