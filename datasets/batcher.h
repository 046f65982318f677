// Batches from a Dataset: per-epoch shuffling and augmentation derived from (seed, epoch) with
// Philox, so a run's data is reproducible and independent of how many epochs ran before (exact
// resume), and BatchLoader, which assembles the next batch on a background thread while the
// current one trains.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "datasets/dataset.h"
#include "runtime/tensor.h"

namespace advmoe {

// Training augmentation of the paper's code: random crop after zero padding, horizontal flip.
// For lazily decoded datasets (ImageNet) any crop_padding > 0 means a random crop window of the
// resized image instead of the centre one.
struct Augmentation {
  int crop_padding = 0;  // 0: no crop
  bool flip = false;
  bool enabled() const { return crop_padding > 0 || flip; }
};

// Fisher-Yates shuffle of 0..n-1 driven by the Philox stream (seed, epoch).
std::vector<int64_t> epoch_order(uint64_t seed, int64_t epoch, int64_t n);

// Copies examples order[first .. first + B) into images f32 [B, H, W, C] in [0, 1] and labels
// i32 [B] (host tensors), augmenting with draws keyed by (seed, epoch, position in the epoch).
// Rows past the end (a short last batch) are zero-filled with label 0; returns how many are real.
int64_t gather_batch(const Dataset& data, const std::vector<int64_t>& order, int64_t first,
                     const Augmentation& augmentation, uint64_t seed, int64_t epoch,
                     const Tensor& images, const Tensor& labels);

// Data-parallel: rank `rank` of `ranks` takes rows [rank * b, (rank + 1) * b) of every global
// batch of ranks * b examples of the order (b: the loader's batch), so the global batches, the
// augmentation draws (keyed by position in the epoch) and the epoch's length are those of one
// process with batch ranks * b.
struct Shard {
  int64_t rank = 0, ranks = 1;
};

// Produces the batches of one pass over `order` on a background thread, two batches ahead.
class BatchLoader {
 public:
  BatchLoader(const Dataset& data, std::vector<int64_t> order, int64_t batch, bool drop_last,
              Augmentation augmentation, uint64_t seed, int64_t epoch, Shard shard = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t num_batches() const { return num_batches_; }
  // Copies the next batch into host tensors shaped like the loader's; returns its real rows, or
  // 0 after the last batch. Rethrows an error of the background thread.
  int64_t next(const Tensor& images, const Tensor& labels);

 private:
  struct Slot {
    Tensor images, labels;
    int64_t rows = 0;
    bool full = false;
  };
  void produce();

  const Dataset& data_;
  std::vector<int64_t> order_;
  int64_t batch_, num_batches_;
  Shard shard_;
  Augmentation augmentation_;
  uint64_t seed_;
  int64_t epoch_;
  Slot slots_[2];
  int64_t consumed_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread worker_;
};

}  // namespace advmoe
