// Forked child with a time limit (runtime/child_process.h).
#include "runtime/child_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "runtime/error.h"

namespace advmoe {

namespace {

ChildOutcome outcome_of(int status) {
  ChildOutcome o;
  o.exited = WIFEXITED(status);
  if (o.exited) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  return o;
}

}  // namespace

ChildOutcome run_in_child(const std::function<int()>& body, double time_limit_s) {
  std::fflush(nullptr);  // or buffered output would be written twice
  pid_t child = ::fork();
  ADVMOE_CHECK(child >= 0, "cannot fork a child process: " << std::strerror(errno));
  if (child == 0) {
    int code = 125;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  // Poll rather than block in waitpid: a blocking wait cannot time out, and a signal-based alarm
  // would fight with whatever the host program (a fuzzer, MPI) does with SIGALRM. The poll
  // interval grows to 20 ms, so a child that returns at once costs well under a millisecond.
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(time_limit_s);
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) return outcome_of(status);
    ADVMOE_CHECK(done == 0 || errno == EINTR,
                 "lost the child process " << child << ": " << std::strerror(errno));
    if (Clock::now() >= deadline) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      ChildOutcome o;
      o.timed_out = true;
      return o;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
}

}  // namespace advmoe
