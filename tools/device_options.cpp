// --device, --precision, --eval-fusion, --tf32, --deterministic, --conv-search.
#include "tools/device_options.h"

#include "compile/plan.h"
#include "distributed/mpi_communicator.h"

namespace advmoe {

void add_device_options(po::options_description& options, DeviceOptions& d) {
  auto add = options.add_options();
  add("device", po::value(&d.device)->default_value("cpu"), "cpu | reference | cuda");
  add("precision", po::value(&d.precision)->default_value("fp32"),
      "fp32 | bf16: bf16 convolutions and linear layers with f32 accumulation, f32 weights, "
      "batch-norm statistics, losses and optimizer (cpu: needs AVX-512 BF16, else fp32 with a "
      "message)");
  add("eval-fusion", po::value(&d.eval_fusion)->default_value("on"),
      "on | off: eval-mode Plans (attacks, evaluation) fold each batch norm and the ReLU after "
      "it into the convolution before it (docs/performance.md); off runs them unfused");
  add("tf32", po::value(&d.tf32)->default_value("off"),
      "cuda: on | off, TF32 tensor cores in convolutions and GEMMs (off: exact FP32 math)");
  add("deterministic", po::bool_switch(&d.deterministic),
      "cuda: only cuDNN algorithms with bit-identical results from run to run");
  add("conv-search", po::value(&d.conv_search)->default_value("timed"),
      "cuda: timed (cuDNN runs every convolution algorithm once per Plan and keeps the fastest) "
      "| heuristic (cuDNN's guess, instant)");
}

std::shared_ptr<Backend> make_backend(const DeviceOptions& d) {
  if (d.tf32 != "on" && d.tf32 != "off")
    throw UsageError{"--tf32 must be on or off, got '" + d.tf32 + "'"};
  if (d.eval_fusion != "on" && d.eval_fusion != "off")
    throw UsageError{"--eval-fusion must be on or off, got '" + d.eval_fusion + "'"};
  set_eval_fusion_default(d.eval_fusion == "on");
  BackendOptions options;
  options.tf32 = d.tf32 == "on";
  options.deterministic = d.deterministic;
  try {
    options.conv_search = parse_conv_search(d.conv_search);
  } catch (const Error& e) {
    throw UsageError{std::string("--conv-search: ") + e.what()};
  }
  try {
    options.precision = parse_precision(d.precision);
  } catch (const Error& e) {
    throw UsageError{std::string("--precision: ") + e.what()};
  }
  // Data-parallel ranks on one host take one GPU each.
  options.device_index = local_rank_from_environment();
  return make_backend(d.device, options);
}

}  // namespace advmoe
