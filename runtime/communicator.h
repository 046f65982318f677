// The process group of a data-parallel run, as the rest of advmoe sees it: this process's rank,
// how many ranks there are, and the few collectives training needs (sums in place, a gather of
// strings for start-up checks). A single process is a group of one (every collective is the
// identity), so code written for P ranks runs unchanged alone.
//
// The implementation over MPI (and NCCL for device memory) lives in distributed/; this layer
// only holds the interface and the process's current group, which the distributed launcher
// replaces at start-up (`set_world`). It is process-wide because MPI's world is: one group per
// process, shared by every kernel that reduces (the gradient all-reduce, synchronized batch norm).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace advmoe {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // True for a group a launcher started (MPI), even of one rank: training then places its
  // all-reduce nodes and runs every collective, so `mpirun -np 1` exercises the whole path.
  virtual bool distributed() const { return false; }
  // Element-wise sums over the ranks, in place, in host memory; every rank gets the same bits.
  virtual void allreduce_sum(float* data, int64_t n) = 0;
  virtual void allreduce_sum(double* data, int64_t n) = 0;
  virtual void allreduce_sum(int64_t* data, int64_t n) = 0;
  // The same for f32 device memory of the CUDA backend, queued on `stream` (a cudaStream_t).
  virtual void allreduce_sum_device(float* data, int64_t n, void* stream) = 0;
  // Every rank's `text`, in rank order (start-up consistency checks).
  virtual std::vector<std::string> allgather(const std::string& text) = 0;
  // The host copy of rank `root`'s bytes, on every rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Stops every rank (a failure on one rank must not leave the others waiting in a collective).
  [[noreturn]] virtual void abort(int code) = 0;
};

// The group of one process: every collective is the identity.
class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(float*, int64_t) override {}
  void allreduce_sum(double*, int64_t) override {}
  void allreduce_sum(int64_t*, int64_t) override {}
  void allreduce_sum_device(float*, int64_t, void*) override {}
  std::vector<std::string> allgather(const std::string& text) override { return {text}; }
  void broadcast(void*, int64_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code) override;
};

// This process's group: a SingleProcess until set_world installs another.
Communicator& world();
void set_world(std::unique_ptr<Communicator> group);

// Seconds spent inside collectives of this process so far (the benchmark's all-reduce share);
// kernels that reduce add to it through CollectiveTimer.
double collective_seconds();
class CollectiveTimer {
 public:
  CollectiveTimer();
  ~CollectiveTimer();

 private:
  int64_t start_ns_;
};

}  // namespace advmoe
