//===- DiagnosticCapture.h - Collect MLIR diagnostics as text ---*- C++ -*-===//
//
// Libraries return errors as values (docs/design.md), so the diagnostics an
// importer, the parser or a pass manager emits are captured while a call runs
// and handed back as text. Each caller keeps the wording its tests check, so
// the format is an option rather than one fixed rendering.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_DIAGNOSTICCAPTURE_H
#define ONEBIT_SUPPORT_DIAGNOSTICCAPTURE_H

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace onebit {

struct DiagnosticCaptureOptions {
  /// Keep errors only; warnings and remarks are swallowed.
  bool errorsOnly = false;
  /// Append each attached note as "\n  note: <message>".
  bool withNotes = true;
  /// Prefix "file:line:col: <severity>: " (nothing for other locations) in
  /// place of the printed location and ": ", the way compilers print them.
  bool compilerStyle = false;
};

/// Collects every diagnostic emitted on a context while alive, one message per
/// diagnostic, and stops them from reaching the context's other handlers.
class DiagnosticCapture {
public:
  explicit DiagnosticCapture(mlir::MLIRContext &ctx,
                             DiagnosticCaptureOptions options = {});

  llvm::ArrayRef<std::string> messages() const { return messages_; }
  bool empty() const { return messages_.empty(); }

  /// The messages joined by `separator`.
  std::string text(llvm::StringRef separator = "\n") const;

private:
  DiagnosticCaptureOptions options_;
  std::vector<std::string> messages_;
  mlir::ScopedDiagnosticHandler handler_;
};

} // namespace onebit

#endif // ONEBIT_SUPPORT_DIAGNOSTICCAPTURE_H
