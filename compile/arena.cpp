// Growing the shared arena and rebinding the Plans that use it.
#include "compile/arena.h"

#include <algorithm>

#include "compile/plan.h"

namespace advmoe {

namespace {
Tensor allocate_bytes(Backend& backend, size_t bytes) {
  return backend.allocate(Shape{static_cast<int64_t>(bytes / 4 + 1)}, DType::F32);
}
}  // namespace

void SharedArena::add_user(Plan* plan) {
  if (std::find(users_.begin(), users_.end(), plan) == users_.end()) users_.push_back(plan);
}

void SharedArena::reserve_intermediates(Plan* plan, size_t bytes) {
  add_user(plan);
  if (allocated_ && bytes <= intermediate_bytes_) return;
  // The new block is allocated (the right-hand side) while the old one still exists, so it
  // always has a new address and a Plan left on the old memory could not go unnoticed (tests rely
  // on it); the brief double holding happens at compile time only.
  intermediate_bytes_ = std::max(bytes, intermediate_bytes_);
  intermediates_ = allocate_bytes(*backend_, intermediate_bytes_);
  allocated_ = true;
  for (Plan* user : users_)
    if (user != plan) user->rebind();
}

void SharedArena::reserve_scratchpad(size_t bytes) {
  if (bytes <= scratchpad_bytes_) return;
  scratchpad_ = Tensor();
  scratchpad_bytes_ = bytes;
  scratchpad_ = allocate_bytes(*backend_, scratchpad_bytes_);
  for (Plan* user : users_) user->set_scratchpad(scratchpad_.raw());
}

void SharedArena::release(Plan* plan) {
  users_.erase(std::remove(users_.begin(), users_.end(), plan), users_.end());
  pending_.erase(std::remove(pending_.begin(), pending_.end(), plan), pending_.end());
}

void SharedArena::defer(Plan* plan, size_t bytes) {
  pending_.push_back(plan);
  pending_bytes_ = std::max(pending_bytes_, bytes);
}

void SharedArena::end_batch() {
  if (--batching_ > 0) return;
  std::vector<Plan*> pending;
  pending.swap(pending_);
  if (pending.empty()) return;
  // One growth for the whole batch (rebuilding only Plans bound before it), then each new Plan
  // builds its kernels once.
  reserve_intermediates(pending.front(), pending_bytes_);
  pending_bytes_ = 0;
  for (Plan* plan : pending) {
    add_user(plan);
    plan->rebind();
  }
}

size_t SharedArena::unshared_bytes() const {
  size_t total = 0;
  for (const Plan* user : users_)
    total += user->memory().arena_bytes + user->memory().scratchpad_bytes;
  return total;
}

}  // namespace advmoe
