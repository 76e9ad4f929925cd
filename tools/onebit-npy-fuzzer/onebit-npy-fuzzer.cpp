//===- onebit-npy-fuzzer.cpp - libFuzzer entry for .npy files -------------===//
//
// Feeds arbitrary bytes to the .npy reader that onebit-run, onebit-eval and
// onebit-train use for inputs. A file that parses must hold exactly the bytes
// its shape needs. Run: onebit-npy-fuzzer CORPUS_DIR
//
//===----------------------------------------------------------------------===//

#include "onebit/Support/Npy.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  onebit::HostTensor t;
  std::string error;
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  if (!onebit::parseNpy(bytes, "fuzz.npy", t, error))
    return 0;
  int64_t want;
  if (!onebit::checkedByteSize(t.shape, t.dtype, want) ||
      size_t(want) != t.data.size())
    __builtin_trap();
  return 0;
}
