//===- HostTensor.h - tensors in host memory --------------------*- C++ -*-===//
//
// The element types and the row-major host tensors the runners, the .npy
// reader, checkpoints and the generator exchange. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_HOSTTENSOR_H
#define ONEBIT_SUPPORT_HOSTTENSOR_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace onebit {

/// Element types the runners exchange, named like MLIR element types. The
/// values are stored in checkpoints: append new ones at the end.
///
/// MLIR integers are signless, so U8..U64 are the signless iN of a function
/// argument or result that carries `onebit.unsigned` (the ONNX importer sets
/// it for UINT* values): they travel as '|u1'..'<u8' .npy files. BF16 travels
/// as ml_dtypes' convention: numpy has no bfloat16, and np.save of an
/// ml_dtypes.bfloat16 array writes the 2-byte void descr '<V2'.
enum class DType {
  F32,
  F16,
  F64,
  I64,
  I32,
  Bool,
  I16,
  I8,
  U8,
  U16,
  U32,
  U64,
  BF16
};
/// One past the last DType, for range checks of stored values.
constexpr int kNumDTypes = int(DType::BF16) + 1;

const char *dtypeName(DType t);
size_t dtypeSize(DType t);

/// The byte size of a `shape` of `t`: false when a dimension is negative or
/// the element count or byte size does not fit in int64_t (memref sizes and
/// strides are int64_t), so that a size read from a file cannot wrap around.
bool checkedByteSize(const std::vector<int64_t> &shape, DType t,
                     int64_t &bytes);

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<char> data; ///< row-major, little-endian
  /// The product of `shape`; only meaningful for shapes that passed
  /// checkedByteSize (readNpy and CompiledModel::run check them).
  int64_t numElements() const;
};

} // namespace onebit

#endif // ONEBIT_SUPPORT_HOSTTENSOR_H
