// Shuffling, augmentation and the prefetching batch loader.
#include "datasets/batcher.h"

#include <cstring>
#include <numeric>

#include "datasets/image.h"
#include "runtime/error.h"
#include "runtime/rng.h"

namespace advmoe {

namespace {
// Subsequence tags keep data streams apart from each other and from parameter initialization.
constexpr uint64_t kShuffleStream = 0x5EED0000ull, kAugmentStream = 0xA0600000ull;
}  // namespace

std::vector<int64_t> epoch_order(uint64_t seed, int64_t epoch, int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  RandomStream stream(seed, kShuffleStream + static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(stream.uniform_f64(static_cast<uint64_t>(i)) * (i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(std::min(j, i))]);
  }
  return order;
}

int64_t gather_batch(const Dataset& data, const std::vector<int64_t>& order, int64_t first,
                     const Augmentation& aug, uint64_t seed, int64_t epoch, const Tensor& images,
                     const Tensor& labels) {
  const int64_t batch = images.shape()[0], h = data.shape[1], w = data.shape[2], c = data.shape[3];
  ADVMOE_CHECK(images.shape() == (Shape{batch, h, w, c}) && labels.shape() == Shape{batch},
               "batch tensors " << images.describe() << " / " << labels.describe()
                                << " do not fit dataset " << data.name << " " << data.shape);
  const int64_t available = static_cast<int64_t>(order.size()) - first;
  const int64_t real = std::max<int64_t>(0, std::min(batch, available));
  RandomStream stream(seed, kAugmentStream + static_cast<uint64_t>(epoch));
  float* out = images.data<float>();
  int32_t* lab = labels.data<int32_t>();
  std::memset(out, 0, images.bytes());
  Image decoded;  // lazy datasets: this example's decoded, resized and cropped image
  for (int64_t b = 0; b < real; ++b) {
    int64_t position = first + b, index = order[static_cast<size_t>(position)];
    float* dst = out + b * h * w * c;
    lab[b] = data.labels[static_cast<size_t>(index)];
    // Three draws per example position: crop offsets (or crop window) and flip.
    float u_y = stream.uniform(3 * position), u_x = stream.uniform(3 * position + 1);
    bool flip = aug.flip && stream.uniform(3 * position + 2) < 0.5f;
    const uint8_t* src = nullptr;
    int64_t dy = 0, dx = 0;
    if (data.lazy()) {
      // ImageNet style: resize the shorter side, then a random (training) or centre window.
      Image full = resize_shorter_side(decode_jpeg_file(data.files[static_cast<size_t>(index)]),
                                       data.resize_to);
      int64_t top = (full.height - h) / 2, left = (full.width - w) / 2;
      if (aug.crop_padding > 0) {
        top = static_cast<int64_t>(u_y * (full.height - h + 1));
        left = static_cast<int64_t>(u_x * (full.width - w + 1));
      }
      decoded = crop(full, top, left, h);
      src = decoded.pixels.data();
    } else {
      src = data.pixels.data() + index * data.image_bytes();
      if (aug.crop_padding > 0) {
        int64_t span = 2 * aug.crop_padding + 1;
        dy = static_cast<int64_t>(u_y * span) - aug.crop_padding;
        dx = static_cast<int64_t>(u_x * span) - aug.crop_padding;
      }
    }
    for (int64_t y = 0; y < h; ++y) {
      int64_t sy = y + dy;
      if (sy < 0 || sy >= h) continue;  // zero padding
      for (int64_t x = 0; x < w; ++x) {
        int64_t sx = (flip ? w - 1 - x : x) + dx;
        if (sx < 0 || sx >= w) continue;
        for (int64_t k = 0; k < c; ++k)
          dst[(y * w + x) * c + k] = src[(sy * w + sx) * c + k] * (1.0f / 255.0f);
      }
    }
  }
  for (int64_t b = real; b < batch; ++b) lab[b] = 0;
  return real;
}

BatchLoader::BatchLoader(const Dataset& data, std::vector<int64_t> order, int64_t batch,
                         bool drop_last, Augmentation augmentation, uint64_t seed, int64_t epoch,
                         Shard shard)
    : data_(data),
      order_(std::move(order)),
      batch_(batch),
      num_batches_(drop_last ? static_cast<int64_t>(order_.size()) / (batch * shard.ranks)
                             : (static_cast<int64_t>(order_.size()) + batch * shard.ranks - 1) /
                                   (batch * shard.ranks)),
      shard_(shard),
      augmentation_(augmentation),
      seed_(seed),
      epoch_(epoch) {
  ADVMOE_CHECK(shard.ranks >= 1 && shard.rank >= 0 && shard.rank < shard.ranks,
               "BatchLoader: shard " << shard.rank << " of " << shard.ranks << " is not a rank");
  for (Slot& s : slots_) {
    s.images = Tensor::zeros(Shape{batch, data.shape[1], data.shape[2], data.shape[3]}, DType::F32);
    s.labels = Tensor::zeros(Shape{batch}, DType::I32);
  }
  worker_ = std::thread([this] { produce(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void BatchLoader::produce() {
  try {
    for (int64_t i = 0; i < num_batches_; ++i) {
      Slot& slot = slots_[i % 2];
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || !slot.full; });
        if (stop_) return;
      }
      const int64_t first = (i * shard_.ranks + shard_.rank) * batch_;
      slot.rows = gather_batch(data_, order_, first, augmentation_, seed_, epoch_, slot.images,
                               slot.labels);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        slot.full = true;
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    changed_.notify_all();
  }
}

int64_t BatchLoader::next(const Tensor& images, const Tensor& labels) {
  if (consumed_ >= num_batches_) return 0;
  Slot& slot = slots_[consumed_ % 2];
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return slot.full || error_ != nullptr; });
  if (error_) std::rethrow_exception(error_);
  images.copy_from(slot.images);
  labels.copy_from(slot.labels);
  int64_t rows = slot.rows;
  slot.full = false;
  ++consumed_;
  lock.unlock();
  changed_.notify_all();
  return rows;
}

}  // namespace advmoe
