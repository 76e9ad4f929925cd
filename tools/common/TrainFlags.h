//===- TrainFlags.h - onebit-train's flags in error messages ----*- C++ -*-===//
//
// The trainer library words its errors in plain terms and tags those about
// one option (onebit/Training/Trainer.h). onebit-train names the options by
// its flags; so does the Python module's train(), whose keyword arguments
// mirror them. This is the one place of that wording.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TOOLS_TRAINFLAGS_H
#define ONEBIT_TOOLS_TRAINFLAGS_H

#include "onebit/Training/Trainer.h"

#include <string>

namespace onebit {

/// `error` with its option named by onebit-train's flag ("--lr must be a
/// positive number", "--device=cuda: ...").
std::string trainFlagError(const TrainError &error);

/// The checks that need no model, worded with flags: the library's
/// validateTrainOptions and those whose message names two flags. Returns ""
/// when the options pass.
std::string checkTrainFlags(const TrainOptions &options);

} // namespace onebit

#endif // ONEBIT_TOOLS_TRAINFLAGS_H
