//===- Allocator.cpp - per-size cache of compiled models' buffers ---------===//

#include "onebit/Runtime/Allocator.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

constexpr size_t kMinCachedBytes = 4096;

/// (size, alignment); alignment 0 is malloc's.
using BlockKey = std::pair<size_t, size_t>;

struct BlockCache {
  std::mutex mutex;
  // Live blocks of the cached sizes; a pointer not found here at free time
  // came from malloc directly (small, or the cache is off) or from
  // elsewhere, and goes to free.
  std::unordered_map<void *, BlockKey> live;
  std::map<BlockKey, std::vector<void *>> freeLists;
  size_t cachedBytes = 0;
  size_t limitBytes = size_t(64) << 20;
  std::atomic<int64_t> allocations{0}, reused{0};

  static void *fromMalloc(const BlockKey &key) {
    auto [size, alignment] = key;
    void *p = nullptr;
    // No object may exceed PTRDIFF_MAX bytes: such a size never reaches
    // malloc (sanitizer builds abort on it instead of returning null), and
    // below it the alignment rounding cannot wrap.
    if (size <= size_t(PTRDIFF_MAX))
      p = alignment ? std::aligned_alloc(alignment, (size + alignment - 1) /
                                                        alignment * alignment)
                    : std::malloc(size);
    if (!p && size)
      outOfMemory(size);
    return p;
  }

  /// Compiled code cannot handle a null buffer: it would write through it.
  /// A clear message and a non-zero exit beat a segmentation fault.
  [[noreturn]] static void outOfMemory(size_t size) {
    std::fprintf(stderr,
                 "onebit runtime: error: out of memory: the model asked for "
                 "a buffer of %zu bytes\n",
                 size);
    std::fflush(nullptr);
    std::_Exit(1);
  }

  void *allocate(size_t size, size_t alignment) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    const BlockKey key(size, alignment);
    if (size < kMinCachedBytes || limitBytes == 0)
      return fromMalloc(key);
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = freeLists.find(key);
      if (it != freeLists.end() && !it->second.empty()) {
        void *p = it->second.back();
        it->second.pop_back();
        cachedBytes -= size;
        live[p] = key;
        reused.fetch_add(1, std::memory_order_relaxed);
        return p;
      }
    }
    void *p = fromMalloc(key);
    if (p) {
      std::lock_guard<std::mutex> lock(mutex);
      live[p] = key;
    }
    return p;
  }

  void release(void *p) {
    if (!p)
      return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = live.find(p);
      if (it != live.end()) {
        BlockKey key = it->second;
        live.erase(it);
        if (cachedBytes + key.first <= limitBytes) {
          freeLists[key].push_back(p);
          cachedBytes += key.first;
          return;
        }
      }
    }
    std::free(p);
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mutex);
    trimLocked();
  }

  void trimLocked() {
    for (auto &[key, list] : freeLists)
      for (void *p : list)
        std::free(p);
    freeLists.clear();
    cachedBytes = 0;
  }

  /// Returns the previous bound. Blocks already cached beyond a lowered
  /// bound are released, so the bound holds from now on.
  size_t setLimit(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    size_t previous = limitBytes;
    limitBytes = bytes;
    if (cachedBytes > limitBytes)
      trimLocked();
    return previous;
  }
};

BlockCache &cache() {
  // Never destroyed: blocks may be freed by static destructors of other
  // libraries after this one's would have run.
  static BlockCache *c = new BlockCache();
  return *c;
}

} // namespace

extern "C" void *_mlir_memref_to_llvm_alloc(size_t size) {
  return cache().allocate(size, 0);
}

extern "C" void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                    size_t size) {
  return cache().allocate(size, alignment);
}

extern "C" void _mlir_memref_to_llvm_free(void *ptr) { cache().release(ptr); }

extern "C" void onebit_runtime_trim_allocations(void) { cache().trim(); }

extern "C" int64_t onebit_runtime_set_allocation_cache_mb(int64_t mb) {
  BlockCache &c = cache();
  if (mb < 0) {
    std::lock_guard<std::mutex> lock(c.mutex);
    return int64_t(c.limitBytes >> 20);
  }
  return int64_t(c.setLimit(size_t(mb) << 20) >> 20);
}

extern "C" void onebit_runtime_allocation_stats(int64_t *allocations,
                                                int64_t *reused) {
  BlockCache &c = cache();
  if (allocations)
    *allocations = c.allocations.load(std::memory_order_relaxed);
  if (reused)
    *reused = c.reused.load(std::memory_order_relaxed);
}
