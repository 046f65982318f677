// Wrong shapes are caught while the graph is built, with the node's name in the message.
#include <boost/test/unit_test.hpp>

#include "backends/backends.h"
#include "compile/plan.h"
#include "ops/basic.h"
#include "ops/batch_norm.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "ops/losses.h"
#include "ops/pooling.h"

using namespace advmoe;

namespace {

// Runs `build` and checks it throws an Error whose message contains every fragment.
template <typename Build>
void expect_error(Build build, std::vector<std::string> fragments) {
  try {
    build();
    BOOST_FAIL("no error thrown; expected one mentioning " << fragments.at(0));
  } catch (const Error& e) {
    std::string message = e.what();
    for (const auto& f : fragments)
      BOOST_TEST(message.find(f) != std::string::npos, "'" << message << "' lacks '" << f << "'");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(build_errors)

BOOST_AUTO_TEST_CASE(conv_channel_mismatch_names_the_node) {
  Graph g;
  Val x{&g, g.input("x", {2, 8, 8, 3})};
  Val w{&g, g.param("w", {16, 3, 3, 4})};
  expect_error([&] { conv2d(x, w, 1, 1, "layer1.0.conv1"); },
               {"conv2d 'layer1.0.conv1'", "3 channels", "[16, 3, 3, 4]"});
}

BOOST_AUTO_TEST_CASE(conv_kernel_larger_than_input) {
  Graph g;
  Val x{&g, g.input("x", {1, 2, 2, 1})};
  Val w{&g, g.param("w", {1, 5, 5, 1})};
  expect_error([&] { conv2d(x, w, 1, 0, "big"); }, {"'big'", "does not fit"});
}

BOOST_AUTO_TEST_CASE(linear_feature_mismatch) {
  Graph g;
  Val x{&g, g.input("x", {4, 10})};
  Val w{&g, g.param("w", {3, 12})};
  expect_error([&] { linear(x, w, "fc"); }, {"linear 'fc'", "10 features", "[3, 12]"});
}

BOOST_AUTO_TEST_CASE(batch_norm_parameter_shape) {
  Graph g;
  Val x{&g, g.input("x", {2, 4, 4, 8})};
  Val good{&g, g.param("gamma", {8})}, bad{&g, g.param("beta", {7})};
  Val rm{&g, g.buffer("rm", {8})}, rv{&g, g.buffer("rv", {8})};
  expect_error([&] { batch_norm(x, good, bad, rm, rv, {}, "bn1"); }, {"'bn1'", "[8]", "[7]"});
}

BOOST_AUTO_TEST_CASE(elementwise_shape_mismatch) {
  Graph g;
  Val a{&g, g.input("a", {2, 3})}, b{&g, g.input("b", {3, 2})};
  expect_error([&] { add(a, b, "residual"); }, {"add 'residual'", "[2, 3]", "[3, 2]"});
}

BOOST_AUTO_TEST_CASE(labels_must_be_i32_and_match_the_batch) {
  Graph g;
  Val z{&g, g.input("z", {4, 10})};
  Val float_labels{&g, g.input("y", {4})};
  expect_error([&] { softmax_cross_entropy(z, float_labels, "ce"); }, {"'ce'", "i32"});
  Val short_labels{&g, g.input("y2", {3}, DType::I32)};
  expect_error([&] { softmax_cross_entropy(z, short_labels, "ce2"); }, {"'ce2'", "[4]"});
}

BOOST_AUTO_TEST_CASE(pool_on_wrong_rank) {
  Graph g;
  Val x{&g, g.input("x", {4, 10})};
  expect_error([&] { max_pool(x, 2, 2, 0, "pool1"); }, {"max_pool 'pool1'", "[N, H, W, C]"});
}

BOOST_AUTO_TEST_CASE(duplicate_names_and_variable_mismatch) {
  Graph g;
  g.input("x", {2});
  expect_error([&] { g.param("x", {2}); }, {"'x'"});
  Graph h;
  Val x{&h, h.input("x", {3})};
  Val y = relu(x);
  h.mark_output(y.id, "y");
  auto backend = make_backend("onednn");
  Variables vars(*backend);
  vars.set("x", Tensor::zeros({4}, DType::F32));
  expect_error([&] { compile(h, vars); }, {"variable 'x'", "[4]", "[3]"});
}

BOOST_AUTO_TEST_CASE(f64_graph_on_onednn_is_refused_clearly) {
  Graph g(DType::F64);
  Val y = relu(Val{&g, g.input("x", {3})});
  g.mark_output(y.id, "y");
  auto backend = make_backend("onednn");
  Variables vars(*backend);
  expect_error([&] { compile(g, vars); }, {"f32 only"});
}

BOOST_AUTO_TEST_CASE(unknown_backend) {
  expect_error([] { make_backend("tpu"); }, {"unknown backend 'tpu'"});
}

BOOST_AUTO_TEST_SUITE_END()
