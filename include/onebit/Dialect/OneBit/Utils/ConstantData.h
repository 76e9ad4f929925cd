//===- ConstantData.h - zero-copy access to constant tensor data -*- C++ -*-===//
//
// Reads the bytes behind `dense<...>` and `dense_resource<...>` constants
// without copying them, and builds `dense_resource` constants from buffers the
// compiler computed (packed signs, value vectors).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_UTILS_CONSTANTDATA_H
#define ONEBIT_DIALECT_ONEBIT_UTILS_CONSTANTDATA_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Support/LLVM.h"

#include <vector>

namespace onebit {

/// The raw, host-endian bytes of a constant tensor. `splat` means `bytes`
/// holds a single element that stands for all of them.
struct RawConstant {
  mlir::ShapedType type;
  mlir::ArrayRef<char> bytes;
  bool splat = false;
};

/// Returns the bytes of a dense or dense_resource elements attribute whose
/// element type is a float or an integer of a whole number of bytes, or
/// failure (e.g. for a dense_resource whose blob was already released).
mlir::FailureOr<RawConstant> getRawConstant(mlir::ElementsAttr attr);

/// Converts one row-major float tensor (f16, bf16, f32, f64) to f32, expanding
/// splats. Used where a computation needs f32 and the source may be narrower.
void toFloat32(const RawConstant &raw, std::vector<float> &out);

/// Creates a `dense_resource` attribute of `type` holding a copy of `bytes`,
/// registered under `name` (the blob manager makes the key unique).
mlir::DenseResourceElementsAttr makeResource(mlir::ShapedType type,
                                             mlir::StringRef name,
                                             mlir::ArrayRef<char> bytes);

/// The name a constant was given by an importer or a user: the
/// dense_resource key, else a NameLoc of its defining op, else "".
std::string getConstantName(mlir::Operation *constantOp);

/// The first NameLoc name inside `loc`, looking through fused and call-site
/// locations ("" if none). Importers name ops by their source node this way.
std::string getLocationName(mlir::Location loc);

} // namespace onebit

#endif // ONEBIT_DIALECT_ONEBIT_UTILS_CONSTANTDATA_H
