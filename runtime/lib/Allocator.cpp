//===- Allocator.cpp - per-size cache of compiled models' buffers ---------===//

#include "onebit/Runtime/Allocator.h"

#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

constexpr size_t kMinCachedBytes = 4096;

struct BlockCache {
  std::mutex mutex;
  // Live blocks of the cached sizes and their requested size; a block not
  // found here at free time came from malloc directly (small, or over the
  // bound when it was allocated) and goes back to free.
  std::unordered_map<void *, size_t> live;
  std::unordered_map<size_t, std::vector<void *>> freeLists;
  size_t cachedBytes = 0;
  size_t limitBytes;
  int64_t allocations = 0, reused = 0;

  BlockCache() {
    limitBytes = size_t(64) << 20;
    if (const char *env = std::getenv("ONEBIT_ALLOC_CACHE_MB")) {
      char *end = nullptr;
      long long mb = std::strtoll(env, &end, 10);
      if (end != env && mb >= 0)
        limitBytes = size_t(mb) << 20;
    }
  }

  void *allocate(size_t size, size_t alignment) {
    std::unique_lock<std::mutex> lock(mutex);
    ++allocations;
    if (size < kMinCachedBytes || limitBytes == 0) {
      lock.unlock();
      return alignment ? std::aligned_alloc(alignment, roundUp(size, alignment))
                       : std::malloc(size);
    }
    // Aligned and unaligned requests of one size share a list only when
    // the alignment is the malloc default's.
    size_t key = size * 2 + (alignment > alignof(std::max_align_t) ? 1 : 0);
    auto it = freeLists.find(key);
    if (it != freeLists.end() && !it->second.empty()) {
      void *p = it->second.back();
      it->second.pop_back();
      cachedBytes -= size;
      live[p] = key;
      ++reused;
      return p;
    }
    lock.unlock();
    void *p = (key & 1) ? std::aligned_alloc(alignment, roundUp(size, alignment))
                        : std::malloc(size);
    if (!p)
      return nullptr;
    lock.lock();
    live[p] = key;
    return p;
  }

  void release(void *p) {
    if (!p)
      return;
    std::unique_lock<std::mutex> lock(mutex);
    auto it = live.find(p);
    if (it == live.end()) {
      lock.unlock();
      std::free(p);
      return;
    }
    size_t key = it->second, size = key / 2;
    live.erase(it);
    if (cachedBytes + size > limitBytes) {
      lock.unlock();
      std::free(p);
      return;
    }
    freeLists[key].push_back(p);
    cachedBytes += size;
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &[key, list] : freeLists)
      for (void *p : list)
        std::free(p);
    freeLists.clear();
    cachedBytes = 0;
  }

  static size_t roundUp(size_t n, size_t a) { return (n + a - 1) / a * a; }
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

extern "C" void onebit_runtime_allocation_stats(int64_t *allocations,
                                                int64_t *reused) {
  BlockCache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (allocations)
    *allocations = c.allocations;
  if (reused)
    *reused = c.reused;
}
