//===- Npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
//
// Reading and writing NumPy .npy arrays (format versions 1-3, C order) for
// the runners. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_NPY_H
#define ONEBIT_SUPPORT_NPY_H

#include "onebit/Support/HostTensor.h"

#include <string>
#include <string_view>

namespace onebit {


/// Reads `path`; on failure returns false and sets `error` (naming the file).
/// The header's shape must describe exactly the data that follows it: a
/// shape whose byte size overflows or differs from the data is refused
/// before anything is allocated.
bool readNpy(const std::string &path, HostTensor &out, std::string &error);
/// Parses the bytes of a whole .npy file; `name` stands for it in errors.
bool parseNpy(std::string_view file, const std::string &name, HostTensor &out,
              std::string &error);
/// Writes `t` as a version 1.0 .npy file (via a temporary file and rename).
bool writeNpy(const std::string &path, const HostTensor &t,
              std::string &error);

} // namespace onebit

#endif // ONEBIT_SUPPORT_NPY_H
