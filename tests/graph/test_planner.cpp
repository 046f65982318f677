// Memory planner: placement rules, peak below the unshared sum, and plans that give identical
// results when run twice.
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/memory_planner.h"
#include "compile/plan.h"
#include "models/registry.h"
#include "ops/losses.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

// SmallCNN (batch 16) with its cross-entropy "loss" and the gradients of every parameter.
Model small_cnn_with_gradients() {
  ModelConfig mc;
  mc.batch = 16;
  Model model = build_model(mc);
  Graph& g = *model.graph;
  Val loss = softmax_cross_entropy(model.logits, model.labels);
  g.mark_loss(loss.id, "loss");
  autodiff(g, loss.id, g.params());
  return model;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(planner)

BOOST_AUTO_TEST_CASE(disjoint_lifetimes_share_and_overlapping_do_not) {
  MemoryLayout m = plan_memory({{1000, 0, 1}, {1000, 2, 3}, {500, 1, 2}});
  BOOST_TEST(m.offsets[0] == m.offsets[1]);  // [0,1] and [2,3] never live together
  BOOST_TEST((m.offsets[2] >= m.offsets[0] + 1024 || m.offsets[2] + 512 <= m.offsets[0]));
  BOOST_TEST(m.arena_bytes == 1024u + 512u);
  BOOST_TEST(m.total_bytes == 1024u + 1024u + 512u);
  for (size_t off : m.offsets) BOOST_TEST(off % 64 == 0u);
}

BOOST_AUTO_TEST_CASE(no_two_live_buffers_overlap) {
  std::vector<BufferRequest> r;
  for (int i = 0; i < 40; ++i)
    r.push_back({static_cast<size_t>(100 + (i * 37) % 900), i % 13, i % 13 + i % 5});
  MemoryLayout m = plan_memory(r);
  for (size_t i = 0; i < r.size(); ++i)
    for (size_t j = i + 1; j < r.size(); ++j) {
      bool live_together = r[i].first_use <= r[j].last_use && r[j].first_use <= r[i].last_use;
      bool apart =
          m.offsets[i] + r[i].bytes <= m.offsets[j] || m.offsets[j] + r[j].bytes <= m.offsets[i];
      BOOST_TEST((!live_together || apart), "buffers " << i << " and " << j << " overlap");
    }
}

BOOST_AUTO_TEST_CASE(training_plan_peak_is_below_unshared_and_runs_reproduce) {
  Model model = small_cnn_with_gradients();
  Graph& g = *model.graph;
  auto backend = make_backend("onednn");
  Variables vars(*backend);
  initialize_parameters(model, vars, 11);
  auto train = compile(g, vars, {Mode::Train, {}});
  auto eval = compile(g, vars, {Mode::Eval, {model.logits.id}});
  BOOST_TEST(train->memory().arena_bytes < train->memory().unshared_bytes);
  BOOST_TEST(train->memory().arena_bytes * 2 < train->memory().unshared_bytes);
  BOOST_TEST(eval->memory().arena_bytes < eval->memory().unshared_bytes);

  vars.set("images", random_tensor(vars.get("images").shape(), DType::F32, 8, 0, 1));
  for (int64_t i = 0; i < 16; ++i)
    vars.get("labels").data<int32_t>()[i] = static_cast<int32_t>(i % 10);
  std::vector<std::string> outputs = {"loss", "logits"};
  for (ValueId p : g.params()) outputs.push_back(grad_name(g.value(p).name));
  std::vector<Tensor> first;
  train->run();
  for (const auto& name : outputs) first.push_back(vars.get(name).clone());
  train->run();  // BN running stats change, but train-mode outputs do not depend on them
  for (size_t i = 0; i < outputs.size(); ++i)
    BOOST_TEST(std::memcmp(first[i].raw(), vars.get(outputs[i]).raw(), first[i].bytes()) == 0,
               outputs[i] << " differs between two runs");
  eval->run();
  Tensor logits = vars.get("logits").clone();
  eval->run();
  BOOST_TEST(std::memcmp(logits.raw(), vars.get("logits").raw(), logits.bytes()) == 0);
}

BOOST_AUTO_TEST_CASE(plans_of_one_program_share_one_arena_and_survive_its_growth) {
  Model model = small_cnn_with_gradients();
  Graph& g = *model.graph;
  auto backend = make_backend("onednn");
  Variables vars(*backend);
  initialize_parameters(model, vars, 11);
  vars.set("images", random_tensor(model.images.shape(), DType::F32, 8, 0, 1));
  // The small Plan first: the large one then grows the arena and the small one must rebuild its
  // kernels over the new memory.
  auto eval = compile(g, vars, {Mode::Eval, {model.logits.id}});
  const void* before = vars.arena()->intermediates().raw();
  eval->run();
  Tensor logits = vars.get("logits").clone();
  auto train = compile(g, vars, {Mode::Train, {}});
  const SharedArena& arena = *vars.arena();
  BOOST_TEST(arena.plans() == 2);
  BOOST_TEST(arena.intermediates().raw() != before);  // it grew (and moved)
  BOOST_TEST(arena.intermediate_bytes() ==
             std::max(eval->memory().arena_bytes, train->memory().arena_bytes));
  BOOST_TEST(arena.intermediate_bytes() < eval->memory().arena_bytes + train->memory().arena_bytes);
  BOOST_TEST(arena.scratchpad_bytes() ==
             std::max(eval->memory().scratchpad_bytes, train->memory().scratchpad_bytes));
  train->run();  // overwrites the shared bytes the eval Plan's intermediates use
  eval->run();   // (train-mode BN changed the running stats: run eval on fresh variables below)
  Variables fresh(*backend);
  initialize_parameters(model, fresh, 11);
  fresh.set("images", vars.get("images"));
  for (const std::string& name : vars.names())
    if (name.find("running_") != std::string::npos) fresh.set(name, vars.get(name));
  auto alone = compile(g, fresh, {Mode::Eval, {model.logits.id}});
  alone->run();
  BOOST_TEST(same_bytes(vars.get("logits"), fresh.get("logits")));
  BOOST_TEST(!same_bytes(vars.get("logits"), logits));  // the running stats did change
  train.reset();
  BOOST_TEST(arena.plans() == 1);
}

BOOST_AUTO_TEST_CASE(an_output_marked_after_a_plan_was_compiled_is_a_clear_error) {
  // The eval Plan places the first conv's output in the arena; marking it as an output later
  // takes it out of the arena, and when the arena grows the eval Plan cannot rebind it. Unfused;
  // fused, the eval-mode fusion removes that value from the Plan, and the first ReLU's output
  // (which the fused conv writes) plays its part.
  for (bool fuse : {false, true}) {
    Model model = small_cnn_with_gradients();
    Graph& g = *model.graph;
    auto backend = make_backend("onednn");
    Variables vars(*backend);
    initialize_parameters(model, vars, 11);
    CompileOptions options{Mode::Eval, {model.logits.id}, {}};
    options.fuse_eval = fuse;
    auto eval = compile(g, vars, options);
    BOOST_TEST((eval->fused_relus() > 0) == fuse);
    ValueId late = kNoValue;
    for (const Node& n : g.nodes())
      if (late == kNoValue && g.value(n.outputs[0]).role == Role::Intermediate &&
          (!fuse || n.op == Op::Relu))
        late = n.outputs[0];
    g.mark_output(late, "late_output");
    const std::string e = error_of([&] { compile(g, vars, {Mode::Train, {}, {}}); });
    BOOST_TEST(
        e.find("'late_output' was marked as an output or loss after a Plan") != std::string::npos,
        e);
  }
}

BOOST_AUTO_TEST_CASE(a_program_compiled_as_one_batch_allocates_its_arena_once) {
  Model model = small_cnn_with_gradients();
  Graph& g = *model.graph;
  auto backend = make_backend("onednn");
  Variables vars(*backend), alone(*backend);
  for (Variables* v : {&vars, &alone}) {
    initialize_parameters(model, *v, 11);
    v->set("images", random_tensor(model.images.shape(), DType::F32, 8, 0, 1));
  }
  ProgramCompilation compilation(*vars.arena());
  auto eval = compile(g, vars, {Mode::Eval, {model.logits.id}});
  auto train = compile(g, vars, {Mode::Train, {}});
  BOOST_TEST(vars.arena()->intermediate_bytes() == 0u);  // nothing allocated yet
  BOOST_CHECK_THROW(eval->run(), Error);                 // no kernels yet
  compilation.finish();
  BOOST_TEST(vars.arena()->intermediate_bytes() == train->memory().arena_bytes);
  BOOST_TEST(vars.arena()->plans() == 2);
  eval->run();
  compile(g, alone, {Mode::Eval, {model.logits.id}})->run();
  BOOST_TEST(same_bytes(vars.get("logits"), alone.get("logits")));
}

BOOST_AUTO_TEST_SUITE_END()
