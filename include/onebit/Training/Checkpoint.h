//===- Checkpoint.h - training checkpoints ----------------------*- C++ -*-===//
//
// The checkpoint file of onebit-train: the step and the named tensors of the
// training state (parameters and the optimizer's moments). Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TRAINING_CHECKPOINT_H
#define ONEBIT_TRAINING_CHECKPOINT_H

#include "onebit/Support/Npy.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace onebit {

struct Checkpoint {
  int64_t step = 0;
  std::vector<std::string> names;
  std::vector<HostTensor> tensors;
};

/// A checkpoint to write whose tensors stay where they are (the trainer's
/// state is not copied to be written).
struct CheckpointView {
  int64_t step = 0;
  std::vector<std::string> names;
  std::vector<const HostTensor *> tensors;
};

/// Writes `c` to `path` through a temporary file in the same folder and a
/// rename, so a crash never leaves a partial checkpoint behind.
bool writeCheckpoint(const std::string &path, const CheckpointView &c,
                     std::string &error);
bool writeCheckpoint(const std::string &path, const Checkpoint &c,
                     std::string &error);
/// Reads `path`; on failure returns false and sets `error` (naming the file).
bool readCheckpoint(const std::string &path, Checkpoint &c,
                    std::string &error);
/// Parses the bytes of a checkpoint; `name` stands for the file in errors.
/// Every count and size is checked against the bytes that remain before
/// anything is allocated.
bool parseCheckpoint(std::string_view bytes, const std::string &name,
                     Checkpoint &c, std::string &error);

} // namespace onebit

#endif // ONEBIT_TRAINING_CHECKPOINT_H
