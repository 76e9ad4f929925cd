//===- onebit-bytecode-fuzzer.cpp - libFuzzer entry for the bytecode check ===//
//
// Feeds arbitrary bytes to checkBytecodeTables, which the model loader runs
// on every MLIR bytecode file before MLIR's reader (docs/security.md). Only
// the check is fuzzed: MLIR 22's reader still crashes or hangs on some
// damaged files the check lets through (docs/security.md lists the kinds),
// and those are upstream's. Run: onebit-bytecode-fuzzer CORPUS_DIR
//
//===----------------------------------------------------------------------===//

#include "onebit/Frontend/BytecodeCheck.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  if (!onebit::checkBytecodeTables(bytes, error) && error.empty())
    __builtin_trap(); // a refusal always says why
  return 0;
}
