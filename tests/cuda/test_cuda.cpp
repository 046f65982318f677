// The GPU suite: every op of the table (tests/ops/op_cases.cpp) on the CUDA backend against the
// reference kernels (f32, TF32 off, relative error <= 1e-5, forward, every gradient and the BN
// running statistics). Without a CUDA device, or in a build without CUDA, it prints why and
// exits with code 77, which CTest reports as "skipped" (never as passed).
#define BOOST_TEST_MODULE advmoe_cuda
#define BOOST_TEST_NO_MAIN
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdio>

#include "../helpers.h"
#include "backends/backends.h"
#include "backends/kernel_registry.h"
#include "ops/op_harness.h"
#include "ops/op_registry.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(cuda)

BOOST_AUTO_TEST_CASE(every_op_has_a_cuda_kernel) {
  KernelRegistry& r = KernelRegistry::instance();
  for (int i = 0; i < static_cast<int>(Op::kCount); ++i) {
    Op op = static_cast<Op>(i);
    BOOST_TEST(r.has("cuda", op), op_def(op).name << " lacks a cuda kernel");
  }
}

BOOST_DATA_TEST_CASE(cuda_matches_reference, boost::unit_test::data::make(cuda_names()), name) {
  const OpCase& c = find_case(name);
  for (Mode mode : c.modes) {
    auto reference = run_case(c, "reference", mode);
    auto gpu = run_case(c, "cuda", mode);
    BOOST_TEST(reference.size() >= 3u);
    for (const auto& [value, expected] : reference) {
      double err = max_relative_error(gpu.at(value), expected);
      BOOST_TEST(err <= 1e-5, name << " [" << mode_name(mode) << "] " << value
                                   << ": cuda vs reference relative error " << err);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

int main(int argc, char* argv[]) {
  std::string why = cuda_unavailable_reason();
  if (!why.empty()) {
    std::printf("test_cuda: SKIPPED, %s\n", why.c_str());
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
