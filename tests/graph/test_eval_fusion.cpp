// Eval-mode fusion (compile/eval_fusion.h): an attack's Plan (logits, loss and the input
// gradient, eval mode) with batch norms folded into the convs must equal the unfused Plan, in
// f64 on the reference kernels (exact up to rounding), in f32 on oneDNN and in bf16; the pass
// must remove what it claims to, see weights that changed since compile, and leave alone the
// convs whose weight gradients a Plan needs.
#include <boost/test/unit_test.hpp>

#include "backends/cpu/onednn_backend.h"
#include "eval_fusion_fixture.h"

using namespace advmoe;
using namespace advmoe::testing;

BOOST_AUTO_TEST_SUITE(eval_fusion)

BOOST_AUTO_TEST_CASE(resnet18_attack_plan_folds_every_batch_norm_exactly_in_f64) {
  FusionFixture f(small_model("resnet18", "dense", DType::F64), "reference");
  auto unfused = f.plan(false);
  auto fused = expect_parity(f, 1e-12);
  // ResNet-18: the stem, two convs per block (8 blocks) and three projection shortcuts.
  BOOST_TEST(count(*unfused, Op::BatchNorm) == 20);
  BOOST_TEST(fused->folded_batch_norms() == 20);
  // The ReLUs after the stem and after each block's first conv; a block's second batch norm
  // meets the shortcut (add) before its ReLU, which stays.
  BOOST_TEST(fused->fused_relus() == 9);
  BOOST_TEST(count(*fused, Op::BatchNorm) == 0);
  BOOST_TEST(count(*fused, Op::BatchNormBackwardData) == 0);
  BOOST_TEST(count(*fused, Op::FoldBatchNorm) == 20);
  BOOST_TEST(count(*fused, Op::Relu) == count(*unfused, Op::Relu) - 9);
  BOOST_TEST(count(*fused, Op::Conv2dBackwardData) == count(*unfused, Op::Conv2dBackwardData));
}

BOOST_AUTO_TEST_CASE(onednn_fused_plans_match_unfused_in_f32) {
  const std::vector<std::pair<std::string, std::string>> models = {{"resnet18", "dense"},
                                                                   {"smallcnn", "dense"},
                                                                   {"vgg16-bn", "dense"},
                                                                   {"resnet18", "moe"},
                                                                   {"smallcnn", "moe"}};
  for (const auto& [arch, variant] : models) {
    ModelConfig mc = small_model(arch, variant, DType::F32);
    if (arch == "vgg16-bn") mc.image = Shape{32, 32, 3};  // five 2x2 max-pools
    if (variant == "moe") mc.batch = 16;                  // both experts get samples
    FusionFixture f(mc, "onednn");
    auto fused = expect_parity(f, 2e-5);
    BOOST_TEST(fused->folded_batch_norms() > 0, arch << "/" << variant);
    BOOST_TEST(count(*fused, Op::BatchNorm) == 0,
               arch << "/" << variant << ": every batch norm follows a conv");
    BOOST_TEST(count(*fused, Op::ChannelGate) == 0, arch << "/" << variant);
  }
}

// ResNet-18 MoE: 16 expert convs (two per block) each gated before its batch norm; the gates
// (1 in forward) go, with their backward-data twins, and every conv's batch norm folds: 16, the
// stem's, and four shortcuts' (the MoE stem stays 64 wide, so layer1's first block projects
// too).
BOOST_AUTO_TEST_CASE(moe_expert_convs_fold_through_their_gates_exactly_in_f64) {
  FusionFixture f(small_model("resnet18", "moe", DType::F64), "reference");
  auto unfused = f.plan(false);
  auto fused = expect_parity(f, 1e-12);
  BOOST_TEST(count(*unfused, Op::ExpertConv) == 16);
  BOOST_TEST(count(*unfused, Op::ChannelGate) == 32);
  BOOST_TEST(fused->folded_batch_norms() == 21);
  BOOST_TEST(fused->fused_relus() == 9);
  BOOST_TEST(count(*fused, Op::ChannelGate) == 0);
  BOOST_TEST(count(*fused, Op::BatchNorm) == 0);
  BOOST_TEST(count(*fused, Op::ExpertConv) == 16);
  BOOST_TEST(count(*fused, Op::ExpertConvBackwardData) == 16);
  BOOST_TEST(count(*fused, Op::Top1) == 16);
}

// With the router input attached (the dissection's router-only attack) the input gradient also
// flows through each gate into its router: channel_gate_backward reads the expert conv's output,
// so the expert convs stay unfused; the stem and the four shortcuts still fold.
BOOST_AUTO_TEST_CASE(expert_convs_whose_gate_gradient_is_live_are_not_folded) {
  ModelConfig mc = small_model("resnet18", "moe", DType::F64);
  mc.detach_router_input = false;
  FusionFixture f(mc, "reference");
  auto fused = expect_parity(f, 1e-12);
  BOOST_TEST(count(*fused, Op::ChannelGateBackward) == 16);
  BOOST_TEST(fused->folded_batch_norms() == 5);
  BOOST_TEST(count(*fused, Op::ChannelGate) == 32);
}

// Routes given as inputs (route studies, the bench's balanced routing) come without a gate: the
// batch norm reads the expert conv directly, and it folds all the same.
BOOST_AUTO_TEST_CASE(expert_convs_with_given_routes_fold_without_a_gate) {
  ModelConfig mc = small_model("resnet18", "moe", DType::F64);
  mc.route_source = "input";
  mc.batch = 4;
  FusionFixture f(mc, "reference");
  for (const auto& [module, route] : f.model.routes) {
    Tensor r = Tensor::zeros(route.shape(), DType::I32);
    for (int64_t i = 0; i < r.numel(); ++i) r.data<int32_t>()[i] = static_cast<int32_t>(i % 2);
    f.vars->set(f.model.graph->value(route.id).name, r);
  }
  auto unfused = f.plan(false);
  auto fused = expect_parity(f, 1e-12);
  BOOST_TEST(count(*unfused, Op::ChannelGate) == 0);
  BOOST_TEST(fused->folded_batch_norms() == 21);
  BOOST_TEST(count(*fused, Op::BatchNorm) == 0);
}

BOOST_AUTO_TEST_CASE(moe_and_sparse_models_fold_what_they_can) {
  // Sparse-CNN: masked weights are computed in the Plan, before the fold that reads them.
  for (const char* variant : {"moe", "sdense", "sparse"}) {
    ModelConfig mc = small_model("resnet18", variant, DType::F64);
    if (mc.variant == "sparse") {  // masks prune a full-width model: the small one instead
      mc.arch = "smallcnn";
      mc.width = 1;
    }
    FusionFixture f(mc, "reference");
    auto fused = expect_parity(f, 1e-12);
    BOOST_TEST(fused->folded_batch_norms() > 0, variant);
  }
}

// bf16 rounds the folded filters where the unfused Plan rounds the raw ones, so the two differ
// by bf16 noise, which in an input gradient through a deep random net is large (10-25% relative
// L2 against f32 here). What must hold: fusion makes bf16 no worse. Both against the f32 Plan,
// averaged over four batches; logits are within 1% in both.
BOOST_AUTO_TEST_CASE(bf16_fused_plans_are_as_close_to_f32_as_unfused_ones) {
  if (!cpu_has_bf16()) {
    BOOST_TEST_MESSAGE("skipped: this CPU has no AVX-512 BF16");
    return;
  }
  BackendOptions bf16;
  bf16.precision = Precision::BF16;
  for (const char* arch : {"resnet18", "smallcnn"}) {
    FusionFixture exact(small_model(arch, "dense", DType::F32), "onednn");
    FusionFixture rounded(small_model(arch, "dense", DType::F32), "onednn", bf16);
    auto f32 = exact.plan(false), unfused = rounded.plan(false), fused = rounded.plan(true);
    BOOST_TEST(fused->folded_batch_norms() > 0);
    const int batches = 4;
    std::vector<double> unfused_error(exact.targets.size()), fused_error = unfused_error;
    for (uint64_t seed = 11; seed < 11 + batches; ++seed) {
      Tensor images = random_tensor(exact.model.images.shape(), DType::F32, seed, 0, 1);
      exact.vars->set("images", images);
      rounded.vars->set("images", images.clone());
      std::vector<Tensor> reference = exact.run(*f32), a = rounded.run(*unfused),
                          b = rounded.run(*fused);
      for (size_t i = 0; i < reference.size(); ++i) {
        unfused_error[i] += l2_relative_error(a[i], reference[i]) / batches;
        fused_error[i] += l2_relative_error(b[i], reference[i]) / batches;
      }
    }
    for (size_t i = 0; i < exact.targets.size(); ++i) {
      BOOST_TEST_MESSAGE(arch << " " << exact.target_name(i) << ": bf16 vs f32, unfused "
                              << unfused_error[i] << ", fused " << fused_error[i]);
      BOOST_TEST(fused_error[i] <= 1.5 * unfused_error[i] + 0.01,
                 arch << " " << exact.target_name(i));
    }
    BOOST_TEST(fused_error[1] <= 1e-2, arch << ": logits");
  }
}

BOOST_AUTO_TEST_CASE(the_fold_sees_weights_and_statistics_changed_after_compile) {
  FusionFixture f(small_model("smallcnn", "dense", DType::F64), "reference");
  auto unfused = f.plan(false);
  auto fused = f.plan(true);
  BOOST_TEST(fused->folded_batch_norms() > 0);
  f.run(*fused);
  // A training step between two attacks changes weights and running statistics.
  for (const std::string& name : f.vars->names())
    if (ends_with(name, ".weight") || ends_with(name, ".running_var")) {
      Tensor t = f.vars->get(name);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] *= 1.25;
    }
  std::vector<Tensor> expected = f.run(*unfused), actual = f.run(*fused);
  for (size_t i = 0; i < expected.size(); ++i)
    BOOST_TEST(l2_relative_error(actual[i], expected[i]) <= 1e-12, f.target_name(i));
}

BOOST_AUTO_TEST_CASE(plans_that_need_weight_gradients_are_not_folded) {
  FusionFixture f(small_model("resnet18", "dense", DType::F64), "reference", {}, true);
  auto fused = expect_parity(f, 1e-12);
  BOOST_TEST(fused->folded_batch_norms() == 0);
  BOOST_TEST(count(*fused, Op::FoldBatchNorm) == 0);
  BOOST_TEST(count(*fused, Op::BatchNormBackwardParams) == 20);
}

BOOST_AUTO_TEST_CASE(forward_only_plans_fold_and_train_plans_do_not) {
  FusionFixture f(small_model("resnet18", "dense", DType::F32), "onednn");
  auto forward = compile(*f.model.graph, *f.vars, {Mode::Eval, {f.model.logits.id}});
  BOOST_TEST(forward->folded_batch_norms() == 20);
  BOOST_TEST(count(*forward, Op::BatchNorm) == 0);
  auto train = compile(*f.model.graph, *f.vars, {Mode::Train, {f.model.logits.id}});
  BOOST_TEST(train->folded_batch_norms() == 0);
  BOOST_TEST(count(*train, Op::BatchNorm) == 20);
}

BOOST_AUTO_TEST_SUITE_END()
