//===- AllocatorTest.cpp - the block cache behind compiled models' allocs -===//

#include "onebit/Runtime/Allocator.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>

namespace {

TEST(Allocator, FreedBlocksOfOneSizeAreReused) {
  int64_t allocs0 = 0, reused0 = 0, allocs1 = 0, reused1 = 0;
  onebit_runtime_allocation_stats(&allocs0, &reused0);
  // A size no other test uses, so the cache holds none of it yet.
  const size_t size = 262144 + 4 * 37;
  void *a = _mlir_memref_to_llvm_alloc(size);
  ASSERT_NE(a, nullptr);
  std::memset(a, 1, size);
  _mlir_memref_to_llvm_free(a);
  void *b = _mlir_memref_to_llvm_alloc(size);
  EXPECT_EQ(a, b);
  // Another size does not get that block.
  void *c = _mlir_memref_to_llvm_alloc(size + 64);
  EXPECT_NE(c, b);
  onebit_runtime_allocation_stats(&allocs1, &reused1);
  EXPECT_EQ(allocs1 - allocs0, 3);
  EXPECT_EQ(reused1 - reused0, 1);
  _mlir_memref_to_llvm_free(b);
  _mlir_memref_to_llvm_free(c);
  onebit_runtime_trim_allocations();
}

// A bound of 0 (ONEBIT_ALLOC_CACHE_MB=0 in the tools) turns the cache off;
// lowering the bound releases what it no longer allows.
TEST(Allocator, CacheBoundSetter) {
  const int64_t defaultMb = onebit_runtime_set_allocation_cache_mb(-1);
  EXPECT_EQ(defaultMb, 64);
  const size_t size = 262144 + 4 * 41;
  void *a = _mlir_memref_to_llvm_alloc(size);
  ASSERT_NE(a, nullptr);
  _mlir_memref_to_llvm_free(a);
  EXPECT_EQ(onebit_runtime_set_allocation_cache_mb(0), defaultMb);
  int64_t allocs0 = 0, reused0 = 0, allocs1 = 0, reused1 = 0;
  onebit_runtime_allocation_stats(&allocs0, &reused0);
  void *b = _mlir_memref_to_llvm_alloc(size);
  _mlir_memref_to_llvm_free(b);
  void *c = _mlir_memref_to_llvm_alloc(size);
  _mlir_memref_to_llvm_free(c);
  onebit_runtime_allocation_stats(&allocs1, &reused1);
  EXPECT_EQ(allocs1 - allocs0, 2);
  EXPECT_EQ(reused1 - reused0, 0);
  EXPECT_EQ(onebit_runtime_set_allocation_cache_mb(defaultMb), 0);
}

TEST(Allocator, AlignmentIsPartOfTheSize) {
  // A block cached for 64-byte alignment is not handed to a request for
  // 4096-byte alignment of the same size.
  const size_t size = 3 * 4096 + 64 * 5;
  void *a = _mlir_memref_to_llvm_aligned_alloc(64, size);
  ASSERT_NE(a, nullptr);
  _mlir_memref_to_llvm_free(a);
  void *b = _mlir_memref_to_llvm_aligned_alloc(4096, size);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 4096, 0u);
  void *c = _mlir_memref_to_llvm_aligned_alloc(64, size);
  EXPECT_EQ(c, a);
  _mlir_memref_to_llvm_free(b);
  _mlir_memref_to_llvm_free(c);
  onebit_runtime_trim_allocations();
}

TEST(Allocator, LiveBlocksAreDistinctAndAligned) {
  std::set<void *> live;
  for (int i = 0; i < 64; ++i) {
    void *p = _mlir_memref_to_llvm_aligned_alloc(64, 8192 + 64 * (i % 4));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    EXPECT_TRUE(live.insert(p).second);
  }
  for (void *p : live)
    _mlir_memref_to_llvm_free(p);
  // Freed and reallocated: still aligned, still distinct.
  std::set<void *> again;
  for (int i = 0; i < 64; ++i) {
    void *p = _mlir_memref_to_llvm_aligned_alloc(64, 8192 + 64 * (i % 4));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    EXPECT_TRUE(again.insert(p).second);
  }
  for (void *p : again)
    _mlir_memref_to_llvm_free(p);
  onebit_runtime_trim_allocations();
}

TEST(Allocator, SmallAndForeignBlocksGoToFree) {
  // Below the cached sizes: malloc/free directly.
  void *small = _mlir_memref_to_llvm_alloc(48);
  ASSERT_NE(small, nullptr);
  _mlir_memref_to_llvm_free(small);
  // A block the cache never handed out (malloc'ed elsewhere) is freed.
  void *foreign = std::malloc(100000);
  _mlir_memref_to_llvm_free(foreign);
  _mlir_memref_to_llvm_free(nullptr);
}

} // namespace

// A size no machine has (or one whose alignment rounding would wrap) ends
// the process with a message instead of handing compiled code a null buffer.
TEST(AllocatorDeathTest, OutOfMemoryIsAnErrorNotANullBuffer) {
  EXPECT_EXIT(_mlir_memref_to_llvm_alloc(SIZE_MAX - 8),
              ::testing::ExitedWithCode(1), "out of memory: the model asked");
  EXPECT_EXIT(_mlir_memref_to_llvm_aligned_alloc(64, SIZE_MAX - 8),
              ::testing::ExitedWithCode(1), "out of memory: the model asked");
}
