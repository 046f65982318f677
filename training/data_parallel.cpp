// Start-up and per-epoch agreement checks across the ranks.
#include "training/data_parallel.h"

#include <sstream>

#include "runtime/communicator.h"
#include "runtime/error.h"

namespace advmoe {

uint64_t fingerprint(const void* data, size_t bytes, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

namespace {

// Each rank's record is "field\tvalue\n" lines; returns the first (rank, field) that differs.
void compare_records(const std::vector<std::pair<std::string, std::string>>& fields,
                     const std::string& what) {
  Communicator& group = world();
  if (group.size() == 1) return;
  std::ostringstream mine;
  for (const auto& [field, value] : fields) mine << field << '\t' << value << '\n';
  std::vector<std::string> all = group.allgather(mine.str());
  for (int r = 1; r < group.size(); ++r) {
    if (all[static_cast<size_t>(r)] == all[0]) continue;
    std::istringstream a(all[0]), b(all[static_cast<size_t>(r)]);
    std::string line_a, line_b;
    while (true) {
      bool more_a = static_cast<bool>(std::getline(a, line_a));
      bool more_b = static_cast<bool>(std::getline(b, line_b));
      if (!more_a && !more_b) break;
      if (line_a == line_b) continue;
      auto field_of = [](const std::string& line) { return line.substr(0, line.find('\t')); };
      auto value_of = [](const std::string& line) {
        size_t tab = line.find('\t');
        return tab == std::string::npos ? std::string("(missing)") : line.substr(tab + 1);
      };
      ADVMOE_FAIL("data-parallel: rank "
                  << r << " of " << group.size() << " disagrees with rank 0 " << what << ": "
                  << field_of(more_b ? line_b : line_a) << " is '"
                  << (more_b ? value_of(line_b) : "(missing)") << "' on rank " << r << " but '"
                  << (more_a ? value_of(line_a) : "(missing)") << "' on rank 0");
    }
  }
}

}  // namespace

void check_same_configuration(const std::vector<std::pair<std::string, std::string>>& fields) {
  compare_records(fields, "at start-up (every rank must run the same build, options and data)");
}

void check_ranks_agree(const Model& model, Variables& variables, const std::string& when) {
  if (world().size() == 1) return;
  const Graph& g = *model.graph;
  std::vector<std::pair<std::string, std::string>> fields;
  for (ValueId v = 0; v < g.num_values(); ++v) {
    const ValueInfo& info = g.value(v);
    if ((info.role != Role::Param && info.role != Role::State) || !variables.has(info.name))
      continue;
    const Tensor& device = variables.get(info.name);
    Tensor host = Tensor::zeros(device.shape(), device.dtype());
    variables.backend().copy(host, device);
    fields.emplace_back(info.name, std::to_string(fingerprint(host.raw(), host.bytes())));
  }
  compare_records(fields, when +
                              " (its parameters diverged: a nondeterministic reduction or a "
                              "rank-dependent step)");
}

}  // namespace advmoe
