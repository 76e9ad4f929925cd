//===- DeviceTrainState.h - train state where the step reads it -*- C++ -*-===//
//
// Internal to lib/Training. A train step built with update-in-place for the
// GPU (docs/gpu.md, "Device-resident state") takes its parameters and Adam
// moments in device memory and writes the new ones there. This holds them
// for the whole run: one buffer per tensor from the step's executable
// (Executable::allocateState: device memory for cuda, host memory under
// gpu-emulation), uploaded once from the initial (or resumed) state,
// passed to every step without a copy, read back only for checkpoints and
// the final model, and freed with the holder. Per step only the token ids,
// the learning rate and the step number go in and the three losses come
// out. The counts of copies say so (onebit-train prints them at the end).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TRAINING_DEVICETRAINSTATE_H
#define ONEBIT_LIB_TRAINING_DEVICETRAINSTATE_H

#include "onebit/Runtime/Executable.h"

#include <cstdint>
#include <string>
#include <vector>

namespace onebit {

class DeviceTrainState {
public:
  /// Copies between host and state memory so far.
  struct Counts {
    int64_t uploads = 0, uploadBytes = 0;
    int64_t downloads = 0, downloadBytes = 0;
  };

  /// State memory of `exe`, which must outlive the holder.
  explicit DeviceTrainState(Executable &exe) : exe_(exe) {}
  ~DeviceTrainState();
  DeviceTrainState(const DeviceTrainState &) = delete;
  DeviceTrainState &operator=(const DeviceTrainState &) = delete;

  /// Allocates one buffer per tensor of `state` (in the order the step
  /// takes them) and copies each into it. Once per holder.
  bool upload(const std::vector<const HostTensor *> &state, std::string &error);
  /// Runs `entry`, whose first arguments are the held tensors (updated in
  /// place), on them and `rest` (the step's other inputs); `outputs`
  /// receives its results.
  bool run(const Executable::Entry &entry, const std::vector<HostTensor> &rest,
           std::vector<HostTensor> &outputs, std::string &error);
  /// Copies held tensors 0 .. into.size()-1 back into `into` (host tensors
  /// of the same shapes and types).
  bool download(const std::vector<HostTensor *> &into, std::string &error);

  size_t tensors() const { return buffers_.size(); }
  size_t bytes() const { return bytes_; }
  const Counts &counts() const { return counts_; }

private:
  Executable &exe_;
  std::vector<void *> buffers_;
  std::vector<TensorRef> refs_;
  size_t bytes_ = 0;
  Counts counts_;
};

} // namespace onebit

#endif // ONEBIT_LIB_TRAINING_DEVICETRAINSTATE_H
