// Terminal-aware progress lines.
#include "training/progress.h"

#include <unistd.h>

namespace advmoe {

Progress::Progress(std::string label, int64_t total_steps, FILE* out)
    : label_(std::move(label)), total_(total_steps), out_(out), tty_(isatty(fileno(out)) != 0) {
  start_ = last_print_ = std::chrono::steady_clock::now();
}

std::string format_duration(double seconds) {
  char buf[32];
  long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

void Progress::update(int64_t step, int epoch, int epochs, double loss, double accuracy,
                      int64_t images) {
  images_ += images;
  auto now = std::chrono::steady_clock::now();
  double since_print = std::chrono::duration<double>(now - last_print_).count();
  bool last = step == total_;
  if (!last && since_print < (tty_ ? 0.2 : 5.0)) return;
  last_print_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? images_ / elapsed : 0;
  double eta = step > 0 ? elapsed * (total_ - step) / step : 0;
  // On a terminal a bar is redrawn in place; in logs each line stands alone.
  std::string bar;
  if (tty_) {
    const int width = 24;
    int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
    bar = "[" + std::string(static_cast<size_t>(filled), '=') +
          std::string(static_cast<size_t>(width - filled), ' ') + "] ";
  }
  std::fprintf(out_, "%s%s%s epoch %d/%d step %lld/%lld loss %.4f acc %.2f%% %.0f img/s ETA %s%s",
               tty_ ? "\r" : "", bar.c_str(), label_.c_str(), epoch, epochs,
               static_cast<long long>(step), static_cast<long long>(total_), loss, 100.0 * accuracy,
               rate, format_duration(eta).c_str(), tty_ ? "   " : "\n");
  std::fflush(out_);
}

void Progress::finish() {
  if (tty_) std::fprintf(out_, "\n");
  std::fflush(out_);
}

}  // namespace advmoe
