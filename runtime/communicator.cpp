// The process's current group and the collective-time counter.
#include "runtime/communicator.h"

#include <atomic>
#include <chrono>
#include <cstdlib>

namespace advmoe {

namespace {

std::unique_ptr<Communicator>& current() {
  static std::unique_ptr<Communicator> group = std::make_unique<SingleProcess>();
  return group;
}

std::atomic<int64_t> collective_ns{0};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void SingleProcess::abort(int code) {
  std::exit(code);
}

Communicator& world() {
  return *current();
}

void set_world(std::unique_ptr<Communicator> group) {
  current() = group ? std::move(group) : std::make_unique<SingleProcess>();
}

double collective_seconds() {
  return static_cast<double>(collective_ns.load()) * 1e-9;
}

CollectiveTimer::CollectiveTimer() : start_ns_(now_ns()) {}
CollectiveTimer::~CollectiveTimer() {
  collective_ns += now_ns() - start_ns_;
}

}  // namespace advmoe
