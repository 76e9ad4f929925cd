//===- onebit-checkpoint-fuzzer.cpp - libFuzzer entry for checkpoints -----===//
//
// Feeds arbitrary bytes to the training checkpoint reader (onebit-train
// --resume reads it). Run: onebit-checkpoint-fuzzer CORPUS_DIR
//
//===----------------------------------------------------------------------===//

#include "onebit/Training/Checkpoint.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  onebit::Checkpoint c;
  std::string error;
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  if (onebit::parseCheckpoint(bytes, "fuzz.ckpt", c, error))
    for (const onebit::HostTensor &t : c.tensors)
      if (t.data.size() !=
          size_t(t.numElements()) * onebit::dtypeSize(t.dtype))
        __builtin_trap();
  return 0;
}
