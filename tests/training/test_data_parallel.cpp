// Data-parallel pieces in one process, with a stand-in group of two identical ranks (every sum
// over the ranks is twice the local value, as if the other rank held the same numbers): the
// gradient all-reduce's buckets and mean, synchronized batch norm against plain batch norm,
// the random start of a rank's rows against the whole batch's, and the start-up and per-epoch
// agreement checks.
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "ops/attack.h"
#include "ops/basic.h"
#include "ops/batch_norm.h"
#include "ops/losses.h"
#include "runtime/communicator.h"
#include "training/data_parallel.h"
#include "training/gradient_allreduce.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

// Two ranks holding the same values; allgather returns `texts` when set (a disagreeing rank).
class TwinRanks : public Communicator {
 public:
  std::vector<std::string> texts;
  int collectives = 0;
  int rank() const override { return 0; }
  int size() const override { return 2; }
  bool distributed() const override { return true; }
  void allreduce_sum(float* d, int64_t n) override { twice(d, n); }
  void allreduce_sum(double* d, int64_t n) override { twice(d, n); }
  void allreduce_sum(int64_t* d, int64_t n) override { twice(d, n); }
  void allreduce_sum_device(float* d, int64_t n, void*) override { twice(d, n); }
  std::vector<std::string> allgather(const std::string& t) override {
    return texts.empty() ? std::vector<std::string>{t, t} : texts;
  }
  void broadcast(void*, int64_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int) override { throw Error("abort"); }

 private:
  template <typename T>
  void twice(T* d, int64_t n) {
    ++collectives;
    for (int64_t i = 0; i < n; ++i) d[i] = d[i] + d[i];
  }
};

// Installs a TwinRanks group for one test and restores the single process after it.
struct TwinWorld {
  TwinRanks* group;
  TwinWorld() {
    auto g = std::make_unique<TwinRanks>();
    group = g.get();
    set_world(std::move(g));
  }
  ~TwinWorld() { set_world(nullptr); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(data_parallel)

BOOST_AUTO_TEST_CASE(gradients_are_bucketed_in_reverse_order_and_averaged) {
  TwinWorld twins;
  Graph g;
  std::vector<ValueId> params;
  Val x{&g, g.input("x", {2, 3})};
  Val total = x;
  for (int k = 0; k < 3; ++k) {
    Val w{&g, g.param("w" + std::to_string(k), {2, 3})};
    params.push_back(w.id);
    total = add(mul(total, w), w);
  }
  Val loss = sum(total);
  g.mark_loss(loss.id, "loss");
  Gradients grads = autodiff(g, loss.id, params);
  // 24 bytes per gradient, buckets of at most 48: {w2, w1} then {w0}.
  Gradients mean = average_over_ranks(g, params, grads, "level", 48);
  int buckets = 0;
  for (int i = 0; i < g.num_nodes(); ++i)
    if (g.node(i).op == Op::AllReduceMean) {
      ++buckets;
      BOOST_TEST(g.node(i).inputs.size() == (buckets == 1 ? 2u : 1u));
      BOOST_TEST(g.node(i).inputs[0] == grads[buckets == 1 ? params[2] : params[0]]);
    }
  BOOST_TEST(buckets == 2);
  std::vector<ValueId> targets;
  for (ValueId p : params) {
    g.mark_output(mean[p], "mean/" + g.value(p).name);
    targets.push_back(mean[p]);
    targets.push_back(grads[p]);
  }
  auto backend = make_backend("onednn");
  Variables vars(*backend);
  auto plan = compile(g, vars, {Mode::Train, targets});
  vars.set("x", random_tensor({2, 3}, DType::F32, 1));
  for (int k = 0; k < 3; ++k)
    vars.set("w" + std::to_string(k), random_tensor({2, 3}, DType::F32, 2 + k));
  plan->run();
  BOOST_TEST(twins.group->collectives == 2);
  // Two identical ranks: the mean over the ranks is the local gradient, bit for bit.
  for (ValueId p : params)
    BOOST_TEST(same_bytes(vars.get("mean/" + g.value(p).name), vars.get(g.value(grads[p]).name)));
}

BOOST_AUTO_TEST_CASE(a_single_process_adds_no_allreduce_node) {
  Graph g;
  Val w{&g, g.param("w", {3})};
  Val loss = sum(mul(w, w));
  g.mark_loss(loss.id, "loss");
  Gradients grads = autodiff(g, loss.id, {w.id});
  const int nodes = g.num_nodes();
  Gradients same = average_over_ranks(g, {w.id}, grads, "level");
  BOOST_TEST(g.num_nodes() == nodes);
  BOOST_TEST(same[w.id] == grads[w.id]);
}

// Synchronized batch norm over two identical ranks normalizes as the local batch does (the
// global batch is two copies of it), train and backward: it must equal the plain kernel.
BOOST_AUTO_TEST_CASE(synchronized_batch_norm_over_identical_ranks_equals_the_local_one) {
  for (const char* name : {"reference", "onednn"}) {
    std::map<bool, std::map<std::string, Tensor>> results;
    for (bool synchronized : {false, true}) {
      std::unique_ptr<TwinWorld> twins;
      if (synchronized) twins = std::make_unique<TwinWorld>();
      Graph g;
      Val x{&g, g.input("x", {4, 3, 3, 5})};
      Val gamma{&g, g.param("gamma", {5})}, beta{&g, g.param("beta", {5})};
      BatchNormAttrs attrs;
      attrs.synchronized = synchronized;
      Val y = batch_norm(x, gamma, beta, Val{&g, g.buffer("rm", {5})}, Val{&g, g.buffer("rv", {5})},
                         attrs, "bn");
      Val loss = sum(mul(y, Val{&g, g.input("w", {4, 3, 3, 5})}));
      g.mark_loss(loss.id, "loss");
      Gradients grads = autodiff(g, loss.id, {x.id, gamma.id, beta.id});
      auto backend = make_backend(name);
      Variables vars(*backend);
      auto plan =
          compile(g, vars, {Mode::Train, {loss.id, grads[x.id], grads[gamma.id], grads[beta.id]}});
      vars.set("x", random_tensor({4, 3, 3, 5}, DType::F32, 7, -2, 3));
      vars.set("w", random_tensor({4, 3, 3, 5}, DType::F32, 8));
      vars.set("gamma", random_tensor({5}, DType::F32, 9, 0.5, 1.5));
      vars.set("beta", random_tensor({5}, DType::F32, 10));
      vars.set("rv", random_tensor({5}, DType::F32, 11, 1, 2));
      plan->run();
      for (const std::string& v : {std::string("loss"), std::string("rm"), std::string("rv"),
                                   g.value(grads[x.id]).name, g.value(grads[gamma.id]).name})
        results[synchronized][v] = vars.get(v).clone();
    }
    for (const auto& [value, plain] : results[false]) {
      // The unbiased running variance uses N / (N - 1) of the global N: 2 * 36 instead of 36.
      if (value == "rv") continue;
      BOOST_TEST(max_relative_error(results[true][value], plain) < 2e-6, name << " " << value);
    }
  }
}

// A rank's rows of the global batch draw the random start those rows get in one process.
BOOST_AUTO_TEST_CASE(a_rank_share_of_the_random_start_equals_those_rows_of_the_whole) {
  for (bool l2 : {false, true})
    for (auto kind : {PgdStartAttrs::Uniform, PgdStartAttrs::Trades}) {
      if (l2 && kind == PgdStartAttrs::Trades) continue;
      auto start = [&](int64_t rows, int64_t first, int64_t total, const Tensor& x0) {
        Graph g;
        PgdStartAttrs a;
        a.kind = kind;
        a.l2 = l2;
        a.epsilon = 0.3;
        a.seed = 4;
        a.first_row = first;
        a.total_rows = total;
        Val out = pgd_start(Val{&g, g.input("x0", {rows, 2, 2, 3})},
                            Val{&g, g.input("key", {2}, DType::I32)}, a, "start");
        g.mark_output(out.id, "x");
        auto backend = make_backend("onednn");
        Variables vars(*backend);
        auto plan = compile(g, vars, {Mode::Eval, {out.id}});
        vars.set("x0", x0);
        Tensor key = Tensor::zeros({2}, DType::I32);
        key.data<int32_t>()[0] = 9;
        vars.set("key", key);
        plan->run();
        return vars.get("x").clone();
      };
      Tensor x0 = random_tensor({6, 2, 2, 3}, DType::F32, 3, 0.2, 0.8);
      Tensor whole = start(6, 0, 0, x0);
      const size_t half = whole.bytes() / 2;
      for (int64_t rank = 0; rank < 2; ++rank) {
        Tensor share = Tensor::zeros({3, 2, 2, 3}, DType::F32);
        std::memcpy(share.raw(), static_cast<char*>(x0.raw()) + rank * half, half);
        Tensor mine = start(3, 3 * rank, 6, share);
        BOOST_TEST(
            std::memcmp(mine.raw(), static_cast<char*>(whole.raw()) + rank * half, half) == 0,
            "l2 " << l2 << " kind " << kind << " rank " << rank);
      }
    }
}

BOOST_AUTO_TEST_CASE(a_rank_with_another_configuration_is_named) {
  TwinWorld twins;
  check_same_configuration({{"options", "a"}});  // both ranks agree
  twins.group->texts = {"build\tx\noptions\t1\n", "build\tx\noptions\t2\n"};
  std::string message = error_of([] {
    check_same_configuration({{"build", "x"}, {"options", "1"}});
  });
  BOOST_TEST(message.find("rank 1 of 2 disagrees with rank 0 at start-up") != std::string::npos,
             message);
  BOOST_TEST(message.find("options is '2' on rank 1 but '1' on rank 0") != std::string::npos,
             message);
}

BOOST_AUTO_TEST_SUITE_END()
