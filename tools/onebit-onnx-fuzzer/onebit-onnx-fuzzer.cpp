//===- onebit-onnx-fuzzer.cpp - libFuzzer entry for the ONNX importer ----===//
//
// Feeds arbitrary bytes to the importer as a serialized ModelProto. Errors
// must come back as diagnostics; crashes, hangs and sanitizer reports are
// bugs. External data is disabled (no base directory) so inputs cannot read
// files. Run: onebit-onnx-fuzzer -max_len=65536 CORPUS_DIR
//
//===----------------------------------------------------------------------===//

#include "onebit/Target/ONNX/ImportONNX.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::DialectRegistry registry;
  onebit::registerONNXImportDialects(registry);
  mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
  // Swallow diagnostics: the fuzzer only looks for crashes.
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  onebit::ONNXImportOptions options;
  // Decoders with past key/values take the KV-cache path (three entries,
  // Concat rewritten into cache writes); other graphs import as they are.
  options.kvCache = onebit::ONNXKVCache::IfWithPast;
  mlir::OwningOpRef<mlir::ModuleOp> module = onebit::importONNXBuffer(
      bytes, "fuzz.onnx", /*baseDir=*/"", context, options);
  // Whatever imports must be valid IR. ONEBIT_FUZZ_STRICT=1 turns invalid
  // IR into a crash report; by default it counts as a handled error, as in
  // onebit-translate, which verifies before writing.
  static const bool strict = getenv("ONEBIT_FUZZ_STRICT") != nullptr;
  if (module && failed(mlir::verify(*module)) && strict)
    __builtin_trap();
  return 0;
}
