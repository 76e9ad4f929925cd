//===- DiagnosticCapture.cpp - Collect MLIR diagnostics as text -----------===//

#include "onebit/Support/DiagnosticCapture.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace onebit {

static const char *severityPrefix(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error:
    return "error: ";
  case DiagnosticSeverity::Warning:
    return "warning: ";
  default:
    return "note: ";
  }
}

DiagnosticCapture::DiagnosticCapture(MLIRContext &ctx,
                                     DiagnosticCaptureOptions options)
    : options_(options), handler_(&ctx, [this](Diagnostic &d) {
        // Handled either way: a dropped warning must not reach stderr.
        if (options_.errorsOnly &&
            d.getSeverity() != DiagnosticSeverity::Error)
          return success();
        std::string s;
        llvm::raw_string_ostream os(s);
        if (options_.compilerStyle) {
          if (auto fl = dyn_cast<FileLineColLoc>(d.getLocation()))
            os << fl.getFilename().getValue() << ":" << fl.getLine() << ":"
               << fl.getColumn() << ": ";
          os << severityPrefix(d.getSeverity()) << d;
        } else {
          os << d.getLocation() << ": " << d;
        }
        if (options_.withNotes)
          for (Diagnostic &note : d.getNotes())
            os << "\n  note: " << note;
        messages_.push_back(std::move(s));
        return success();
      }) {}

std::string DiagnosticCapture::text(llvm::StringRef separator) const {
  std::string s;
  for (size_t i = 0; i < messages_.size(); ++i) {
    if (i)
      s += separator;
    s += messages_[i];
  }
  return s;
}

} // namespace onebit
