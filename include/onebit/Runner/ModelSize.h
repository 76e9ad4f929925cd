//===- ModelSize.h - the bytes and parameters of a model's constants -*- C++ -*-===//
//
// What onebit-bench prints in llama-bench's size and params columns, and
// what onebit-compile records in an artifact's metadata.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNNER_MODELSIZE_H
#define ONEBIT_RUNNER_MODELSIZE_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>

namespace onebit {

struct ModelSize {
  uint64_t bytes = 0;      ///< of the constants as stored (packed)
  uint64_t parameters = 0; ///< weights: a 1-bit sign word counts 32
};

/// The distinct statically shaped tensor constants of `module`; 1-bit sign
/// words (constants named `*.signs`, i32) count 32 parameters each.
ModelSize measureModel(mlir::ModuleOp module);

} // namespace onebit

#endif // ONEBIT_RUNNER_MODELSIZE_H
