// How a PGD configuration is reported: one line for logs, every setting as JSON for final.json.
#pragma once

#include <string>

#include "training/pgd.h"

namespace advmoe {

// "PGD-50 L-inf eps 0.0314 step 0.00784, 1 restart, CE" for logs.
std::string describe(const PgdConfig& c);

// Every setting of the attack as a JSON object (final.json, the checkpoint's `final`).
std::string attack_json(const PgdConfig& c);

}  // namespace advmoe
