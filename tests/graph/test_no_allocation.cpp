// "Running a Plan allocates nothing": malloc is interposed in this test executable (so the
// count covers oneDNN and libgomp too) and watched while warmed-up Plans run.
// Our own code allocates nothing at all (checked on the reference backend). oneDNN 2.6's
// dnnl_primitive_execute builds a small argument map per call inside libdnnl, which its API gives
// no way to avoid; on the onednn backend we check that no allocation is larger than such
// bookkeeping, i.e. every tensor, workspace and scratchpad was allocated at compile time.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>

#include "backends/backends.h"
#include "compile/autodiff.h"
#include "compile/plan.h"
#include "models/registry.h"
#include "ops/losses.h"

extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
std::atomic<size_t> largest{0};

void record(size_t bytes) {
  if (!counting.load(std::memory_order_relaxed)) return;
  allocations.fetch_add(1);
  size_t seen = largest.load();
  while (bytes > seen && !largest.compare_exchange_weak(seen, bytes)) {
  }
}
}  // namespace

extern "C" void* malloc(size_t n) {
  record(n);
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t n, size_t size) {
  record(n * size);
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, size_t n) {
  record(n);
  return __libc_realloc(p, n);
}

using namespace advmoe;

namespace {

struct Watched {
  long allocations;
  size_t largest;
};

// Builds a SmallCNN training graph, compiles a train and an eval Plan on `backend_name`, runs
// both once to warm up, then counts allocations during a second run of both.
Watched watch_runs(const std::string& backend_name) {
  ModelConfig mc;
  mc.batch = 8;
  mc.width = 0.25;
  Model model = build_model(mc);
  Graph& g = *model.graph;
  Val loss = softmax_cross_entropy(model.logits, model.labels);
  g.mark_loss(loss.id, "loss");
  autodiff(g, loss.id, g.params());
  auto backend = make_backend(backend_name);
  Variables vars(*backend);
  initialize_parameters(model, vars, 1);
  auto train = compile(g, vars, {Mode::Train, {}});
  auto eval = compile(g, vars, {Mode::Eval, {model.logits.id}});
  train->run();  // first runs may start OpenMP thread pools
  eval->run();
  allocations = 0;
  largest = 0;
  counting = true;
  train->run();
  eval->run();
  counting = false;
  return {allocations.load(), largest.load()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(no_allocation)

BOOST_AUTO_TEST_CASE(the_interposer_counts) {
  counting = true;
  allocations = 0;
  void* probe = std::malloc(100);
  counting = false;
  std::free(probe);
  BOOST_TEST(allocations.load() == 1);
}

BOOST_AUTO_TEST_CASE(reference_plans_allocate_nothing) {
  Watched w = watch_runs("reference");
  BOOST_TEST(w.allocations == 0);
}

BOOST_AUTO_TEST_CASE(onednn_plans_allocate_no_tensor_memory) {
  Watched w = watch_runs("onednn");
  BOOST_TEST_MESSAGE("onednn: " << w.allocations << " small allocations inside libdnnl, largest "
                                << w.largest << " bytes");
  BOOST_TEST(w.largest <= 1024u);
}

BOOST_AUTO_TEST_SUITE_END()
