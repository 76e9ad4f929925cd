//===- MemrefCopy.cpp - memref.copy of strided buffers --------------------===//
//
// The CPU pipeline lowers memref.copy between buffers with non-identity
// layouts to a call of `memrefCopy` (MLIR's runner utils). The JIT resolves
// it from libmlir_c_runner_utils; an artifact's code, which links the
// kernel library only, calls this one instead (onebit-compile renames the
// call), so that a program running artifacts needs no MLIR library.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/Allocator.h"

#include <cstring>
#include <vector>

namespace {
/// The ranked descriptor an unranked memref points to:
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct Descriptor {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizesAndStrides[];
};
struct Unranked {
  int64_t rank;
  Descriptor *descriptor;
};
} // namespace

extern "C" void onebit_memref_copy(int64_t elemSize, void *srcArg,
                                   void *dstArg) {
  const Unranked *src = static_cast<const Unranked *>(srcArg);
  const Unranked *dst = static_cast<const Unranked *>(dstArg);
  const int64_t rank = src->rank;
  const int64_t *sizes = src->descriptor->sizesAndStrides;
  const int64_t *srcStrides = sizes + rank;
  const int64_t *dstStrides = dst->descriptor->sizesAndStrides + rank;
  char *from = src->descriptor->aligned + src->descriptor->offset * elemSize;
  char *to = dst->descriptor->aligned + dst->descriptor->offset * elemSize;
  for (int64_t k = 0; k < rank; ++k)
    if (sizes[k] == 0)
      return;
  if (rank == 0) {
    std::memcpy(to, from, size_t(elemSize));
    return;
  }
  // Odometer over every index but the innermost; the innermost run is one
  // memcpy when both sides are contiguous in it.
  std::vector<int64_t> idx(size_t(rank), 0);
  const int64_t inner = sizes[rank - 1];
  const bool contiguous = srcStrides[rank - 1] == 1 && dstStrides[rank - 1] == 1;
  for (;;) {
    int64_t so = 0, dof = 0;
    for (int64_t k = 0; k + 1 < rank; ++k) {
      so += idx[k] * srcStrides[k];
      dof += idx[k] * dstStrides[k];
    }
    if (contiguous) {
      std::memcpy(to + dof * elemSize, from + so * elemSize,
                  size_t(inner * elemSize));
    } else {
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(to + (dof + j * dstStrides[rank - 1]) * elemSize,
                    from + (so + j * srcStrides[rank - 1]) * elemSize,
                    size_t(elemSize));
    }
    int64_t k = rank - 2;
    for (; k >= 0; --k) {
      if (++idx[k] < sizes[k])
        break;
      idx[k] = 0;
    }
    if (k < 0)
      return;
  }
}
