// advmoe flops: per-sample multiply-accumulates of one pathway, and of the router, for a model
// and input size.
#include <cstdio>
#include <fstream>

#include "models/flops.h"
#include "models/registry.h"
#include "models/sparse_model.h"
#include "runtime/error.h"
#include "tools/options.h"

namespace advmoe {

int cmd_flops(const std::vector<std::string>& args) {
  ModelConfig mc;
  int size = 32, channels = 3;
  po::options_description o("flops options");
  auto add = o.add_options();
  add("arch", po::value(&mc.arch)->default_value("resnet18"), "architecture");
  add("variant", po::value(&mc.variant)->default_value("dense"), "dense | sdense | moe | sparse");
  add("keep", po::value(&mc.keep)->default_value(0.5),
      "sparse: share of each layer's filters (structured) or weights (unstructured) kept");
  add("mask", po::value(&mc.mask)->default_value("structured"),
      "sparse: structured | unstructured");
  add("ratio", po::value(&mc.ratio)->default_value(1.0), "width ratio r (sdense, moe)");
  add("experts", po::value(&mc.experts)->default_value(2), "experts N (moe)");
  add("routing", po::value(&mc.routing)->default_value("layer"), "layer | global (moe)");
  add("router-input", po::value(&mc.router_input)->default_value("standardized"),
      "moe, per-layer routers: standardized (train's default: no router bias) | pooled");
  add("image-size", po::value(&size)->default_value(32), "input height = width");
  add("channels", po::value(&channels)->default_value(3), "input channels");
  add("classes", po::value(&mc.classes)->default_value(10), "classes");
  std::string json_path;
  add("json", po::value(&json_path)->default_value(""),
      "also write the counts (and the budget-matched S-Dense of an MoE) as JSON to this file");
  po::variables_map vm;
  if (!parse_command("flops", "Count multiply-accumulates per sample (1 MAC = 2 FLOPs).", o, args,
                     vm))
    return 0;
  mc.batch = 1;
  mc.image = Shape{size, size, channels};
  Model model = build_model(mc);
  MacCount c = count_macs(model);
  const int64_t params = model.num_parameters(), router_params = router_parameters(model);
  std::printf(
      "%s %s r=%g%s, input %dx%dx%d, %d classes: pathway %.4f GMACs, router %.4f GMACs "
      "(per sample; convolutions and linear layers; 1 MAC = 2 FLOPs)\n",
      mc.arch.c_str(), mc.variant.c_str(), mc.ratio,
      mc.variant == "moe"
          ? (" N=" + std::to_string(mc.experts) + " " + mc.routing + " routing").c_str()
          : "",
      size, size, channels, mc.classes, c.pathway / 1e9, c.router / 1e9);
  std::printf("  exact: pathway %lld MACs, router %lld MACs; %lld parameters (%lld in routers)\n",
              static_cast<long long>(c.pathway), static_cast<long long>(c.router),
              static_cast<long long>(params), static_cast<long long>(router_params));
  MatchedSDense matched;
  if (mc.variant == "moe") {
    matched = matched_sdense(mc, c.pathway);
    std::printf(
        "  budget-matched S-Dense: --variant sdense --ratio %.6g computes %lld MACs "
        "(%+.2f%% of this pathway)\n",
        matched.ratio, static_cast<long long>(matched.macs),
        100.0 * static_cast<double>(matched.macs - c.pathway) / static_cast<double>(c.pathway));
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out.precision(17);
    out << "{\"arch\": \"" << mc.arch << "\", \"variant\": \"" << mc.variant
        << "\", \"ratio\": " << mc.ratio << ", \"experts\": " << mc.experts
        << ", \"pathway_macs\": " << c.pathway << ", \"router_macs\": " << c.router
        << ", \"parameters\": " << params << ", \"router_parameters\": " << router_params;
    if (mc.variant == "moe")
      out << ", \"matched_sdense_ratio\": " << matched.ratio
          << ", \"matched_sdense_macs\": " << matched.macs;
    out << "}\n";
    ADVMOE_CHECK(out.good(), "cannot write '" << json_path << "'");
  }
  if (mc.variant != "sparse") return 0;
  // The MACs above are what dense kernels compute on the masked weights.
  if (mc.mask == "unstructured") {
    std::printf(
        "sparse (unstructured, keep %.4g): the masked weights are computed densely (the %.4f "
        "GMACs above); about %.4f GMACs multiply kept weights\n",
        mc.keep, c.pathway / 1e9, mc.keep * c.pathway / 1e9);
    return 0;
  }
  try {
    Model compact = build_model(compact_config(model));
    std::printf(
        "sparse (structured, keep %.4g): the compact model (advmoe export --compact: S-Dense at r "
        "%.4g) computes %.4f GMACs per sample\n",
        mc.keep, compact.config.ratio, count_macs(compact).pathway / 1e9);
  } catch (const Error& e) {
    std::printf("sparse (structured, keep %.4g): no compact model: %s\n", mc.keep, e.what());
  }
  return 0;
}

}  // namespace advmoe
