// The one exception type of advmoe and the check macro that builds its messages.
// Every message names what is at fault (file, node, field) and what was expected.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace advmoe {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Usage: ADVMOE_CHECK(x.rank() == 4, "conv2d '" << name << "': input must be rank 4, got " << x);
#define ADVMOE_CHECK(condition, message)                 \
  do {                                                   \
    if (!(condition)) {                                  \
      std::ostringstream advmoe_check_stream_;           \
      advmoe_check_stream_ << message;                   \
      throw ::advmoe::Error(advmoe_check_stream_.str()); \
    }                                                    \
  } while (0)

#define ADVMOE_FAIL(message) ADVMOE_CHECK(false, message)

}  // namespace advmoe
