// Progress reporting for long runs: epoch, step, loss, accuracy, images/s and ETA. On a terminal
// one line is redrawn in place; otherwise (CI logs, files) a plain line is printed every few
// seconds so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace advmoe {

class Progress {
 public:
  Progress(std::string label, int64_t total_steps, FILE* out = stdout);
  // Call after each step with the running averages of the current epoch.
  void update(int64_t step, int epoch, int epochs, double loss, double accuracy, int64_t images);
  void finish();

 private:
  std::string label_;
  int64_t total_;
  FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t images_ = 0;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace advmoe
