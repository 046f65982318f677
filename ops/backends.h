// Backend construction by name: "reference", "onednn" (the default CPU backend) or "cuda".
#pragma once

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace advmoe {

// Throws naming the reason for an unknown name, a build without CUDA, or a machine without a GPU.
std::shared_ptr<Backend> make_backend(const std::string& name);

// Empty when the "cuda" backend can run here; otherwise why not (built without CUDA, no driver
// or no device).
std::string cuda_unavailable_reason();

}  // namespace advmoe
