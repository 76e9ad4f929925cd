/*===- Allocator.h - heap allocations of compiled models ------------------===
 *
 * The CPU pipeline lowers memref.alloc/dealloc to these generic allocation
 * functions (finalize-memref-to-llvm{use-generic-functions}), so that the
 * temporaries of a compiled model (a KD train step allocates ~2,000 buffers
 * per call, mostly 64 KB to 1 MB) are recycled instead of going through
 * malloc's bins each time. Freed blocks of 4 KiB or more are kept in a
 * per-size cache, up to a bound on the bytes cached (64 MiB by default;
 * onebit_runtime_set_allocation_cache_mb sets it, 0 turns the cache off; the
 * tools map ONEBIT_ALLOC_CACHE_MB onto it); smaller blocks and
 * everything beyond the bound go to malloc/free. A block from these
 * functions must be released with _mlir_memref_to_llvm_free; a pointer it
 * never handed out is passed on to free(). Thread-safe.
 *===----------------------------------------------------------------------===*/

#ifndef ONEBIT_RUNTIME_ALLOCATOR_H
#define ONEBIT_RUNTIME_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void *_mlir_memref_to_llvm_alloc(size_t size);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size);
void _mlir_memref_to_llvm_free(void *ptr);

/* memref.copy between strided buffers (MemrefCopy.cpp): what MLIR's
 * runner utils call memrefCopy, for artifacts, which link no MLIR library.
 * `src` and `dst` are unranked memref descriptors of the same shape. */
void onebit_memref_copy(int64_t elemSize, void *src, void *dst);

/* Releases every cached block to malloc. */
void onebit_runtime_trim_allocations(void);

/* Sets the bound on the bytes cached, in MiB (0: no cache); cached blocks
 * beyond a lowered bound are released. Returns the previous bound; a
 * negative value only queries. */
int64_t onebit_runtime_set_allocation_cache_mb(int64_t mb);

/* Counters since the process started: allocation calls, and how many of
 * them were served from the cache. */
void onebit_runtime_allocation_stats(int64_t *allocations, int64_t *reused);

#ifdef __cplusplus
}
#endif

#endif /* ONEBIT_RUNTIME_ALLOCATOR_H */
