// Every architecture and variant: parameter counts against the PyTorch reference implementations
// (or, where no published count exists, a closed-form count derived here independently), output
// shapes, and a forward pass on a batch.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "../helpers.h"
#include "backends/backends.h"
#include "compile/plan.h"
#include "models/registry.h"

using namespace advmoe;
using namespace advmoe::testing;

namespace {

Model cifar_model(const std::string& arch, const std::string& variant = "dense", double r = 1.0,
                  int classes = 10, int64_t batch = 2) {
  ModelConfig c;
  c.arch = arch;
  c.batch = batch;
  c.image = Shape{32, 32, 3};
  c.classes = classes;
  c.variant = variant;
  c.ratio = r;
  return build_model(c);
}

// Weights + BN affine of a conv (no bias) followed by BN.
int64_t conv_bn(int64_t in, int64_t out, int64_t k) {
  return out * in * k * k + 2 * out;
}

// ResNet-18 count from its definition, for any width multiplier (S-Dense) and stem.
int64_t resnet18_count(double r, int classes, bool imagenet) {
  auto w = [&](int64_t c) { return std::max<int64_t>(1, std::lround(c * r)); };
  int64_t n = conv_bn(3, w(64), imagenet ? 7 : 3), in = w(64);
  for (int64_t planes : {64, 128, 256, 512})
    for (int block = 0; block < 2; ++block) {
      int64_t out = w(planes);
      n += conv_bn(in, out, 3) + conv_bn(out, out, 3);
      if (in != out) n += conv_bn(in, out, 1);
      in = out;
    }
  return n + in * classes + classes;
}

int64_t densenet_bc_count(int depth, int64_t k, int classes) {
  int64_t layers = (depth - 4) / 6, c = 2 * k, n = 3 * 9 * c;
  for (int block = 0; block < 3; ++block) {
    for (int64_t i = 0; i < layers; ++i) {
      n += 2 * c + c * 4 * k + 2 * 4 * k + 4 * k * k * 9;
      c += k;
    }
    if (block < 2) {
      n += 2 * c + c * (c / 2);
      c /= 2;
    }
  }
  return n + 2 * c + c * classes + classes;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(models)

BOOST_AUTO_TEST_CASE(parameter_counts_match_pytorch_references) {
  // kuangliu/pytorch-cifar ResNet18 and the standard WRN-28-10, CIFAR-10.
  BOOST_TEST(cifar_model("resnet18").num_parameters() == 11173962);
  BOOST_TEST(cifar_model("wrn-28-10").num_parameters() == 36479194);
  // kuangliu VGG('VGG16') with batch norm.
  BOOST_TEST(cifar_model("vgg16-bn").num_parameters() == 14728266);
  // andreasveit/densenet-pytorch prints 769162 for DenseNet-BC-100, k = 12, CIFAR-10.
  BOOST_TEST(cifar_model("densenet-bc-100").num_parameters() == 769162);
  BOOST_TEST(cifar_model("densenet-bc-40").num_parameters() == densenet_bc_count(40, 12, 10));
  BOOST_TEST(cifar_model("resnet18", "dense", 1.0, 100).num_parameters() ==
             resnet18_count(1, 100, false));
  // torchvision resnet18 (ImageNet stem, 1000 classes).
  ModelConfig imagenet;
  imagenet.arch = "resnet18";
  imagenet.batch = 1;
  imagenet.image = Shape{224, 224, 3};
  imagenet.classes = 1000;
  BOOST_TEST(build_model(imagenet).num_parameters() == 11689512);
  BOOST_TEST(resnet18_count(1, 1000, true) == 11689512);
}

BOOST_AUTO_TEST_CASE(sdense_scales_every_width) {
  for (double r : {0.25, 0.5, 0.8}) {
    Model m = cifar_model("resnet18", "sdense", r);
    BOOST_TEST(m.num_parameters() == resnet18_count(r, 10, false), "r = " << r);
    BOOST_TEST(m.graph->value(m.graph->find("layer4.1.conv2.weight")).shape[0] ==
               std::lround(512 * r));
  }
  BOOST_TEST(cifar_model("densenet-bc-100", "sdense", 0.5).num_parameters() ==
             densenet_bc_count(100, 6, 10));
  BOOST_CHECK_THROW(cifar_model("resnet18", "sdense", 1.5), Error);
  BOOST_CHECK_THROW(cifar_model("resnet18", "fancy"), Error);
}

BOOST_AUTO_TEST_CASE(reference_parameter_names) {
  Model r = cifar_model("resnet18");
  for (const char* name : {"conv1.weight", "bn1.running_var", "layer2.0.shortcut.0.weight",
                           "layer2.0.shortcut.1.bias", "layer4.1.bn2.weight", "linear.weight"})
    BOOST_TEST(r.graph->has(name), name);
  Model w = cifar_model("wrn-28-10");
  for (const char* name : {"block1.layer.0.convShortcut.weight", "block3.layer.3.conv2.weight",
                           "bn1.weight", "fc.bias"})
    BOOST_TEST(w.graph->has(name), name);
  Model v = cifar_model("vgg16-bn");
  for (const char* name : {"features.0.weight", "features.0.bias", "features.1.running_mean",
                           "features.41.weight", "classifier.weight"})
    BOOST_TEST(v.graph->has(name), name);
  Model d = cifar_model("densenet-bc-40");
  for (const char* name :
       {"conv1.weight", "block1.layer.5.conv2.weight", "trans2.conv1.weight", "fc.weight"})
    BOOST_TEST(d.graph->has(name), name);
}

BOOST_AUTO_TEST_CASE(every_model_runs_forward_on_a_batch) {
  auto backend = make_backend("onednn");
  for (const std::string& arch : architectures()) {
    ModelConfig c;
    c.arch = arch;
    c.batch = 2;
    c.image = arch == "smallcnn" ? Shape{28, 28, 1} : Shape{32, 32, 3};
    c.classes = 10;
    Model m = build_model(c);
    Variables vars(*backend);
    initialize_parameters(m, vars, 1);
    auto plan = compile(*m.graph, vars, {Mode::Eval, {m.logits.id}});
    vars.set("images", random_tensor(vars.get("images").shape(), DType::F32, 2, 0, 1));
    plan->run();
    const Tensor& logits = vars.get("logits");
    BOOST_TEST(logits.shape() == (Shape{2, 10}), arch);
    bool finite = true, varied = false;
    for (int64_t i = 0; i < logits.numel(); ++i) {
      finite = finite && std::isfinite(logits.item(i));
      varied = varied || logits.item(i) != logits.item(0);
    }
    BOOST_TEST(finite, arch);
    BOOST_TEST(varied, arch);
  }
}

BOOST_AUTO_TEST_CASE(initialization_follows_the_paper_code) {
  Model m = cifar_model("resnet18");
  auto backend = make_backend("onednn");
  Variables vars(*backend);
  initialize_parameters(m, vars, 7);
  auto stddev = [](const Tensor& t) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      s += t.item(i);
      s2 += t.item(i) * t.item(i);
    }
    double mean = s / t.numel();
    return std::sqrt(s2 / t.numel() - mean * mean);
  };
  // Kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (512 * 3 * 3)).
  BOOST_TEST(stddev(vars.get("layer4.0.conv2.weight")) == std::sqrt(2.0 / (512 * 9)),
             boost::test_tools::tolerance(0.02));
  BOOST_TEST(stddev(vars.get("linear.weight")) == 0.01, boost::test_tools::tolerance(0.05));
  BOOST_TEST(vars.get("linear.bias").item(3) == 0.0);
  BOOST_TEST(vars.get("bn1.weight").item(0) == 1.0);
  BOOST_TEST(vars.get("bn1.running_var").item(5) == 1.0);
  Variables again(*backend);
  initialize_parameters(m, again, 7);
  BOOST_TEST(again.get("layer1.0.conv1.weight").item(17) ==
             vars.get("layer1.0.conv1.weight").item(17));
}

BOOST_AUTO_TEST_CASE(normalization_lives_in_the_model) {
  // A model with cifar10 normalization on x must equal the plain model on (x - mean) / std.
  auto backend = make_backend("onednn");
  Tensor x = random_tensor({2, 32, 32, 3}, DType::F32, 3, 0, 1), standardized = x.clone();
  const double mean[] = {0.4914, 0.4822, 0.4465}, stddev[] = {0.2471, 0.2435, 0.2616};
  for (int64_t i = 0; i < x.numel(); ++i)
    standardized.data<float>()[i] = static_cast<float>((x.item(i) - mean[i % 3]) / stddev[i % 3]);
  Tensor logits[2];
  for (int k = 0; k < 2; ++k) {
    ModelConfig c;
    c.arch = "resnet18";
    c.batch = 2;
    c.image = Shape{32, 32, 3};
    c.normalize = k == 0 ? "cifar10" : "none";
    Model m = build_model(c);
    Variables vars(*backend);
    initialize_parameters(m, vars, 1);
    auto plan = compile(*m.graph, vars, {Mode::Eval, {m.logits.id}});
    vars.set("images", k == 0 ? x : standardized);
    plan->run();
    logits[k] = vars.get("logits").clone();
  }
  BOOST_TEST(max_relative_error(logits[0], logits[1]) < 1e-4);
  ModelConfig bad;
  bad.normalize = "cifar10";  // the 1-channel small CNN
  BOOST_CHECK_THROW(build_model(bad), Error);
}

BOOST_AUTO_TEST_SUITE_END()
