//===- Signatures.h - entry signatures for hand-written executables -*- C++
//-*-===//
//
// The unit tests of Executable build entries by hand (their packed entry
// points are C++ functions); this is how they describe an argument.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_UNITTESTS_RUNTIME_SIGNATURES_H
#define ONEBIT_UNITTESTS_RUNTIME_SIGNATURES_H

#include "onebit/Runtime/Executable.h"

#include <utility>
#include <vector>

namespace onebit {

/// An argument or result named `name` of element type `dtype` and `shape`
/// (kDynamicDim for a dynamic size).
inline TensorSignature signature(DType dtype, std::vector<int64_t> shape,
                                 const char *name) {
  TensorSignature s;
  s.dtype = dtype;
  s.shape = std::move(shape);
  s.name = name;
  return s;
}

/// The same, f32.
inline TensorSignature signature(std::vector<int64_t> shape, const char *name) {
  return signature(DType::F32, std::move(shape), name);
}

} // namespace onebit

#endif // ONEBIT_UNITTESTS_RUNTIME_SIGNATURES_H
