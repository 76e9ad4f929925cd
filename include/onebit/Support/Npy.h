//===- Npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
//
// Reading and writing NumPy .npy arrays (format versions 1-3, C order) for
// the runners. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_NPY_H
#define ONEBIT_SUPPORT_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace onebit {

/// Element types the runners exchange, named like MLIR element types. The
/// values are stored in checkpoints: append new ones at the end.
enum class DType { F32, F16, F64, I64, I32, Bool, I16, I8 };

const char *dtypeName(DType t);
size_t dtypeSize(DType t);

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<char> data; ///< row-major, little-endian
  int64_t numElements() const;
};

/// Reads `path`; on failure returns false and sets `error` (naming the file).
bool readNpy(const std::string &path, HostTensor &out, std::string &error);
/// Writes `t` as a version 1.0 .npy file (via a temporary file and rename).
bool writeNpy(const std::string &path, const HostTensor &t,
              std::string &error);

} // namespace onebit

#endif // ONEBIT_SUPPORT_NPY_H
