//===- CompileCache.h - compiled models kept between runs --------*- C++ -*-===//
//
// The tools compile a model once: the first run writes what it compiled as
// an artifact into a cache folder, keyed by the model's content, the
// entries, the compile options, this CPU and the toolchain's version; later
// runs load that artifact instead of compiling. An entry that is stale or
// corrupt fails the artifact loader's checks and is rebuilt, never trusted.
// The folder is the caller's choice (the tools take ONEBIT_CACHE_DIR,
// tools/common/EnvOptions.h).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TARGET_ARTIFACT_COMPILECACHE_H
#define ONEBIT_TARGET_ARTIFACT_COMPILECACHE_H

#include "onebit/Runner/Runner.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace onebit {

struct CompileCacheOptions {
  /// The folder; empty disables the cache.
  std::string directory;
  /// The cache is pruned to this many bytes (least recently used first)
  /// after an entry is added; 0: no bound.
  uint64_t maxBytes = uint64_t(8) << 30;
};

struct CacheResult {
  bool hit = false;       ///< loaded from the cache, nothing compiled
  bool rebuilt = false;   ///< an entry was there but failed its checks
  std::string path;       ///< the cache entry ("" when not cached)
  std::string note;       ///< why the cache was not used, if it was not
  double seconds = 0;     ///< compile or load time
};

/// The model `module` (consumed) with `entries` compiled for this CPU: from
/// the cache when it holds them, else compiled (ahead of time, into the
/// cache, then loaded). Models the cache cannot hold (another target, a
/// perf map, no C compiler driver to link) are JIT-compiled as by
/// CompiledModel::compile, with `result.note` saying why. Null + `error`
/// on failure. `entries` empty: the module's only public function.
std::unique_ptr<Executable>
compileWithCache(mlir::OwningOpRef<mlir::ModuleOp> module,
                 std::vector<std::string> entries, Target target,
                 const CompileOptions &options,
                 const CompileCacheOptions &cache, CacheResult &result,
                 std::string &error);

/// The cache key of `module` compiled with `entries` and `options` for this
/// CPU: 32 hex digits.
std::string compileCacheKey(mlir::ModuleOp module,
                            const std::vector<std::string> &entries,
                            const CompileOptions &options);

} // namespace onebit

#endif // ONEBIT_TARGET_ARTIFACT_COMPILECACHE_H
