// run_in_child: exit codes, signals, exceptions and the time limit (runtime/child_process.h).
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

#include "runtime/child_process.h"

using namespace advmoe;

BOOST_AUTO_TEST_SUITE(child_process)

BOOST_AUTO_TEST_CASE(reports_the_exit_code) {
  ChildOutcome o = run_in_child([] { return 7; }, 10);
  BOOST_TEST(o.exited);
  BOOST_TEST(!o.timed_out);
  BOOST_TEST(o.exit_code == 7);
  BOOST_TEST(run_in_child([] { return 0; }, 10).exit_code == 0);
}

BOOST_AUTO_TEST_CASE(an_escaping_exception_is_exit_code_125) {
  ChildOutcome o = run_in_child([]() -> int { throw std::runtime_error("x"); }, 10);
  BOOST_TEST(o.exited);
  BOOST_TEST(o.exit_code == 125);
}

BOOST_AUTO_TEST_CASE(reports_the_signal_that_ended_it) {
  ChildOutcome o = run_in_child(
      [] {
        ::raise(SIGKILL);  // not SIGSEGV: a sanitizer build handles that one itself
        return 0;
      },
      10);
  BOOST_TEST(!o.exited);
  BOOST_TEST(!o.timed_out);
  BOOST_TEST(o.signal == SIGKILL);
}

BOOST_AUTO_TEST_CASE(kills_a_child_that_outlives_the_limit) {
  auto start = std::chrono::steady_clock::now();
  ChildOutcome o = run_in_child(
      [] {
        for (;;) ::pause();
        return 0;
      },
      0.2);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST(o.timed_out);
  BOOST_TEST(!o.exited);
  BOOST_TEST(seconds >= 0.2);
  BOOST_TEST(seconds < 5.0);
}

BOOST_AUTO_TEST_CASE(a_quick_child_is_not_held_up_by_the_poll) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) BOOST_TEST(run_in_child([] { return 0; }, 10).exit_code == 0);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST(seconds < 2.0);
}

BOOST_AUTO_TEST_SUITE_END()
