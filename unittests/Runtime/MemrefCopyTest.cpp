//===- MemrefCopyTest.cpp - onebit_memref_copy against an index loop ------===//
//
// Artifacts call onebit_memref_copy where the JIT calls MLIR's memrefCopy:
// strided copies of any rank, contiguous or not in the innermost dimension,
// with offsets, and empty or rank-0 memrefs.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/Allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

/// An unranked memref of float over `data`: {rank, descriptor}, the
/// descriptor {allocated, aligned, offset, sizes, strides}.
struct Memref {
  Memref(float *data, int64_t offset, std::vector<int64_t> sizes,
         std::vector<int64_t> strides) {
    desc.push_back(reinterpret_cast<int64_t>(data));
    desc.push_back(reinterpret_cast<int64_t>(data));
    desc.push_back(offset);
    desc.insert(desc.end(), sizes.begin(), sizes.end());
    desc.insert(desc.end(), strides.begin(), strides.end());
    unranked[0] = int64_t(sizes.size());
    unranked[1] = reinterpret_cast<int64_t>(desc.data());
  }
  std::vector<int64_t> desc;
  int64_t unranked[2];
};

TEST(MemrefCopy, StridedRank3WithOffsets) {
  // src: a 2x3x4 view (strides 40, 8, 2, offset 5) of a larger buffer;
  // dst: row-major 2x3x4 at offset 3.
  std::vector<float> src(100), dst(3 + 24, -1.0f);
  for (size_t i = 0; i < src.size(); ++i)
    src[i] = float(i);
  Memref s(src.data(), 5, {2, 3, 4}, {40, 8, 2});
  Memref d(dst.data(), 3, {2, 3, 4}, {12, 4, 1});
  onebit_memref_copy(sizeof(float), s.unranked, d.unranked);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c)
        EXPECT_EQ(dst[3 + a * 12 + b * 4 + c], src[5 + a * 40 + b * 8 + c * 2]);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(dst[i], -1.0f) << "wrote before the offset";
}

TEST(MemrefCopy, ContiguousRowsIntoStridedDestination) {
  std::vector<float> src(12), dst(30, 0.0f);
  for (size_t i = 0; i < src.size(); ++i)
    src[i] = float(i + 1);
  Memref s(src.data(), 0, {3, 4}, {4, 1});
  Memref d(dst.data(), 1, {3, 4}, {10, 1});
  onebit_memref_copy(sizeof(float), s.unranked, d.unranked);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      EXPECT_EQ(dst[1 + r * 10 + c], src[r * 4 + c]);
  EXPECT_EQ(dst[5], 0.0f);
}

TEST(MemrefCopy, RankZeroAndEmpty) {
  float a = 7.0f, b = 0.0f;
  Memref s(&a, 0, {}, {}), d(&b, 0, {}, {});
  onebit_memref_copy(sizeof(float), s.unranked, d.unranked);
  EXPECT_EQ(b, 7.0f);
  float x[4] = {1, 2, 3, 4}, y[4] = {0, 0, 0, 0};
  Memref se(x, 0, {0, 4}, {4, 1}), de(y, 0, {0, 4}, {4, 1});
  onebit_memref_copy(sizeof(float), se.unranked, de.unranked);
  EXPECT_EQ(y[0], 0.0f);
}

} // namespace
