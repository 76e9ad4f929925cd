//===- DeviceTrainState.cpp - train state where the step reads it ---------===//

#include "DeviceTrainState.h"

namespace onebit {

DeviceTrainState::~DeviceTrainState() {
  for (void *b : buffers_)
    exe_.freeState(b);
}

bool DeviceTrainState::upload(const std::vector<const HostTensor *> &state,
                              std::string &error) {
  if (!buffers_.empty()) {
    error = "the train state is already held";
    return false;
  }
  for (size_t i = 0; i < state.size(); ++i) {
    const HostTensor &t = *state[i];
    const size_t n = t.data.size();
    void *b = exe_.allocateState(n, error);
    if (!b) {
      error = "train state tensor " + std::to_string(i) + " (" +
              std::to_string(n) + " bytes): " + error;
      return false;
    }
    buffers_.push_back(b);
    if (!exe_.writeState(b, t.data.data(), n, error)) {
      error =
          "uploading train state tensor " + std::to_string(i) + ": " + error;
      return false;
    }
    ++counts_.uploads;
    counts_.uploadBytes += int64_t(n);
    bytes_ += n;
    TensorRef r;
    r.dtype = t.dtype;
    r.shape = t.shape;
    r.data = b;
    r.bytes = n;
    refs_.push_back(std::move(r));
  }
  return true;
}

bool DeviceTrainState::run(const Executable::Entry &entry,
                           const std::vector<HostTensor> &rest,
                           std::vector<HostTensor> &outputs,
                           std::string &error) {
  // Every held tensor is written in place; nothing else is.
  if (entry.inplaceArgs.size() != refs_.size()) {
    error = "@" + entry.name + " updates " +
            std::to_string(entry.inplaceArgs.size()) +
            " arguments in place, but the train state has " +
            std::to_string(refs_.size()) + " tensors";
    return false;
  }
  for (size_t i = 0; i < entry.inplaceArgs.size(); ++i)
    if (entry.inplaceArgs[i] != int(i)) {
      error = "@" + entry.name + " does not update its first " +
              std::to_string(refs_.size()) + " arguments in place";
      return false;
    }
  std::vector<TensorRef> in = refs_;
  for (const HostTensor &t : rest) {
    TensorRef r;
    r.dtype = t.dtype;
    r.shape = t.shape;
    r.data = const_cast<char *>(t.data.data());
    r.bytes = t.data.size();
    in.push_back(std::move(r));
  }
  return exe_.runRefs(entry, in, outputs, error);
}

bool DeviceTrainState::download(const std::vector<HostTensor *> &into,
                                std::string &error) {
  if (into.size() > refs_.size()) {
    error = "the train state has " + std::to_string(refs_.size()) +
            " tensors, not " + std::to_string(into.size());
    return false;
  }
  for (size_t i = 0; i < into.size(); ++i) {
    HostTensor &t = *into[i];
    if (t.dtype != refs_[i].dtype || t.shape != refs_[i].shape ||
        t.data.size() != refs_[i].bytes) {
      error = "train state tensor " + std::to_string(i) +
              " does not have the shape it was uploaded with";
      return false;
    }
    if (!exe_.readState(refs_[i].data, t.data.data(), refs_[i].bytes, error)) {
      error =
          "downloading train state tensor " + std::to_string(i) + ": " + error;
      return false;
    }
    ++counts_.downloads;
    counts_.downloadBytes += int64_t(refs_[i].bytes);
  }
  return true;
}

} // namespace onebit
