// advmoe inspect CKPT: metadata, the tensor tree with shapes, parameter count, metrics.
#include <cstdio>
#include <set>
#include <utility>

#include "tools/options.h"
#include "training/checkpoint.h"
#include "training/hdf5_file.h"

namespace advmoe {

namespace {

// Groups already printed, by (file number, object address): a hard link back to a parent
// (/params/loop -> /params) makes the tree a graph, which must not be walked for ever.
using Visited = std::set<std::pair<unsigned long, haddr_t>>;
// Our checkpoints nest 3 levels (/optimizer/<group>/momentum); deeper is not ours.
constexpr int kMaxDepth = 16;

int64_t print_group(const H5File& f, const std::string& group, const std::string& indent,
                    Visited& visited, int depth) {
  ADVMOE_CHECK(depth <= kMaxDepth, "'" << f.path() << "' nests groups deeper than " << kMaxDepth
                                       << " levels at " << group << " (not an advmoe checkpoint)");
  int64_t total = 0;
  for (const std::string& name : f.list(group)) {
    std::string path = group + "/" + name;
    H5O_info_t info;
    ADVMOE_CHECK(H5Oget_info_by_name(f.id(), path.c_str(), &info, H5P_DEFAULT) >= 0,
                 "'" << f.path() << "' " << path << ": unreadable object (corrupted metadata)");
    if (info.type == H5O_TYPE_GROUP) {
      if (!visited.insert({info.fileno, info.addr}).second) {
        std::printf("%s%s/ -> (a link to a group already shown)\n", indent.c_str(), name.c_str());
        continue;
      }
      std::printf("%s%s/\n", indent.c_str(), name.c_str());
      total += print_group(f, path, indent + "  ", visited, depth + 1);
    } else if (info.type != H5O_TYPE_DATASET) {
      std::printf("%s%s (not a dataset or group)\n", indent.c_str(), name.c_str());
    } else if (path != "/metrics") {
      Shape s = f.shape_of(path);
      std::printf("%s%-40s %-5s %s\n", indent.c_str(), name.c_str(), dtype_name(f.dtype_of(path)),
                  s.str().c_str());
      total += s.numel();
    }
  }
  return total;
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  std::string path;
  po::options_description o("inspect options");
  o.add_options()("checkpoint", po::value(&path)->required(), "checkpoint file (.h5)");
  po::variables_map vm;
  std::vector<std::string> all = args;
  // `advmoe inspect CKPT`: the first positional argument is the checkpoint.
  if (!all.empty() && all[0].rfind("-", 0) != 0) all.insert(all.begin(), "--checkpoint");
  if (!parse_command("inspect", "Show a checkpoint: metadata, tensors, metrics.", o, all, vm))
    return 0;

  CheckpointHeader h = read_checkpoint_header(path);
  H5File f = H5File::open(path);
  std::printf("%s: advmoe checkpoint, format version %d\n", path.c_str(), h.format_version);
  std::printf("  model    %s, variant %s, r %g, stem %s, %d classes, input %s (H, W, C)\n",
              h.model.arch.c_str(), h.model.variant.c_str(), h.model.ratio, h.model.stem.c_str(),
              h.model.classes, h.model.image.str().c_str());
  std::printf("  run      dataset %s, epoch %lld, step %lld, seed %llu\n", h.state.dataset.c_str(),
              static_cast<long long>(h.state.epoch), static_cast<long long>(h.state.step),
              static_cast<unsigned long long>(h.state.seed));
  Visited visited;
  std::printf("params/\n");
  int64_t params = print_group(f, "/params", "  ", visited, 1);
  std::printf("buffers/\n");
  print_group(f, "/buffers", "  ", visited, 1);
  if (f.exists("/optimizer")) {
    std::printf("optimizer/\n");
    print_group(f, "/optimizer", "  ", visited, 1);
  }
  std::printf("parameters: %lld\n", static_cast<long long>(params));
  if (!h.state.metrics.empty()) {
    std::printf("metrics:\n  epoch  train_loss  train_acc  test_loss  test_acc  seconds\n");
    for (const EpochMetrics& m : h.state.metrics)
      std::printf("  %5d  %10.4f  %8.2f%%  %9.4f  %7.2f%%  %7.1f\n", m.epoch, m.train_loss,
                  100 * m.train_accuracy, m.test_loss, 100 * m.test_accuracy, m.seconds);
  }
  if (!h.state.final_json.empty()) std::printf("final: %s\n", h.state.final_json.c_str());
  return 0;
}

}  // namespace advmoe
