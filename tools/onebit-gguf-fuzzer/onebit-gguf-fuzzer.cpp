//===- onebit-gguf-fuzzer.cpp - libFuzzer entry for GGUF files ------------===//
//
// Feeds arbitrary bytes to everything onebit does with a GGUF file: the
// reader (header, metadata, tensor table), dequantization, the llama
// importer and the tokenizer built from the file's metadata. Errors must come
// back as messages; crashes, hangs, sanitizer reports and allocations beyond
// -rss_limit_mb are bugs. Run: onebit-gguf-fuzzer -max_len=65536 CORPUS_DIR
//
//===----------------------------------------------------------------------===//

#include "onebit/Target/GGUF/GGUFFile.h"
#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Tokenizer/TokenizerLoader.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  auto file = onebit::gguf::GGUFFile::fromBuffer(data, size, "fuzz.gguf",
                                                 error);
  if (!file)
    return 0;
  for (const onebit::gguf::TensorInfo &t : file->tensors()) {
    std::vector<float> values;
    (void)file->readAsF32(t, values, error);
  }
  {
    mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
    mlir::ScopedDiagnosticHandler quiet(
        &context, [](mlir::Diagnostic &) { return mlir::success(); });
    onebit::GGUFImportOptions options;
    options.batch = 1;
    options.seqLen = 2;
    // The KV-cache entries too: they read the same metadata and weights
    // through other builders (cache shapes, positions, last-token slice).
    options.kvCache = true;
    // With or without the full forward (onebit-compile --entries
    // prefill,decode imports the KV-cache entries alone): the last byte's
    // low bit chooses, so both paths see every kind of input.
    options.fullEntry = size == 0 || (data[size - 1] & 1) == 0;
    (void)onebit::importGGUF(*file, context, options);
  }
  if (auto tok = onebit::tokenizerFromGGUF(*file, error)) {
    std::vector<int32_t> ids = tok->encode("Hello, world! 123 <|im_end|>");
    (void)tok->decode(ids);
  }
  return 0;
}
