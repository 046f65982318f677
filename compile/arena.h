// The scratch memory every Plan of one program shares. Plans of a program run one at a time and
// an intermediate lives only while its Plan runs, so all of them can use the same bytes: the
// arena is as large as the largest Plan needs (intermediates and kernel scratchpad each), not
// their sum. A Plan that needs more than the arena holds grows it; the Plans already bound to
// the old memory then rebuild their kernels over the new one (compile time only: a running
// Plan never allocates). Variables owns the arena of its program (compile/variables.h).
#pragma once

#include <cstddef>
#include <vector>

#include "runtime/backend.h"

namespace advmoe {

class Plan;

class SharedArena {
 public:
  explicit SharedArena(Backend& backend) : backend_(&backend) {}
  SharedArena(const SharedArena&) = delete;
  SharedArena& operator=(const SharedArena&) = delete;

  // Makes the intermediates region at least `bytes` (rebuilding the other Plans' kernels when it
  // moves) and registers `plan` as a user.
  void reserve_intermediates(Plan* plan, size_t bytes);
  // Makes the scratchpad at least `bytes`; every user gets the (new) pointer.
  void reserve_scratchpad(size_t bytes);
  void release(Plan* plan);

  // Between begin_batch() and end_batch(), compile() only plans: the arena is allocated once, at
  // the largest size the batch's Plans need, and each Plan's kernels are built once (no Plan is
  // rebuilt, so no kernel memory is freed and reallocated). A Plan of the batch must not run
  // before end_batch(). ProgramCompilation is the exception-safe way to use them.
  void begin_batch() { ++batching_; }
  void end_batch();
  bool batching() const { return batching_ > 0; }
  void defer(Plan* plan, size_t bytes);

  const Tensor& intermediates() const { return intermediates_; }
  void* scratchpad() const { return scratchpad_bytes_ ? scratchpad_.raw() : nullptr; }
  size_t intermediate_bytes() const { return intermediate_bytes_; }
  size_t scratchpad_bytes() const { return scratchpad_bytes_; }
  // What the users would hold with an arena and a scratchpad each (the memory sharing saves).
  size_t unshared_bytes() const;
  int plans() const { return static_cast<int>(users_.size()); }

 private:
  void add_user(Plan* plan);

  Backend* backend_;
  Tensor intermediates_, scratchpad_;
  size_t intermediate_bytes_ = 0, scratchpad_bytes_ = 0;
  bool allocated_ = false;
  std::vector<Plan*> users_;
  int batching_ = 0;
  std::vector<Plan*> pending_;
  size_t pending_bytes_ = 0;
};

// Compiles a program's Plans as one batch: construct, compile them all, then finish().
class ProgramCompilation {
 public:
  explicit ProgramCompilation(SharedArena& arena) : arena_(arena) { arena_.begin_batch(); }
  ~ProgramCompilation() {
    if (!finished_) arena_.end_batch();
  }
  void finish() {
    finished_ = true;
    arena_.end_batch();
  }

 private:
  SharedArena& arena_;
  bool finished_ = false;
};

}  // namespace advmoe
