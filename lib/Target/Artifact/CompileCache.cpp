//===- CompileCache.cpp - compiled models kept between runs ---------------===//

#include "onebit/Target/Artifact/CompileCache.h"
#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/ArtifactFormat.h"
#include "onebit/Target/Artifact/ArtifactWriter.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <chrono>
#include <dlfcn.h>

using namespace mlir;

namespace onebit {

/// A hash of the file that holds this compiler's code (the tool, or the
/// Python extension), so a rebuilt compiler with another pipeline never
/// reads code an older build cached under the same version number. Read
/// once per process; empty when the file cannot be found.
static const std::string &compilerFingerprint() {
  static const std::string fingerprint = [] {
    Dl_info info;
    if (!dladdr(reinterpret_cast<void *>(&compilerFingerprint), &info) ||
        !info.dli_fname)
      return std::string();
    auto file = llvm::MemoryBuffer::getFile(info.dli_fname, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
    if (!file)
      return std::string();
    return llvm::utohexstr(
        llvm::xxh3_64bits(llvm::arrayRefFromStringRef((*file)->getBuffer())));
  }();
  return fingerprint;
}

std::string compileCacheKey(ModuleOp module,
                            const std::vector<std::string> &entries,
                            const CompileOptions &options) {
  // Everything that changes the code: the model, what is compiled and how,
  // the CPU it is compiled for, and the toolchain.
  std::string text;
  {
    llvm::raw_string_ostream os(text);
    (void)writeBytecodeToFile(module, os);
  }
  std::string context = "onebit " ONEBIT_VERSION_STRING ";build " +
                        compilerFingerprint() + ";LLVM " LLVM_VERSION_STRING;
  context += ";format " + std::to_string(artifact::kFormatVersion) + ";abi " +
             std::to_string(artifact::kRuntimeAbi);
  context += ";cpu " + llvm::sys::getHostCPUName().str();
  std::vector<std::string> features;
  for (const auto &f : llvm::sys::getHostCPUFeatures())
    features.push_back((f.second ? "+" : "-") + f.first().str());
  std::sort(features.begin(), features.end());
  for (const std::string &f : features)
    context += "," + f;
  context += ";entries";
  for (const std::string &e : entries)
    context += " " + e;
  context += ";opt " + std::to_string(options.jitOptLevel) +
             (options.llvmDefaultPipeline ? " default" : " runner") +
             (options.cpu.denseMatmulToRuntime ? " dense-runtime" : " loops") +
             (options.cpu.outlineLayers ? " outline-layers" : "") +
             (options.cpu.layerLoops ? " layer-loops" : "");
  llvm::XXH128_hash_t a = llvm::xxh3_128bits(llvm::arrayRefFromStringRef(text));
  llvm::XXH128_hash_t b =
      llvm::xxh3_128bits(llvm::arrayRefFromStringRef(context));
  char hex[33];
  snprintf(hex, sizeof(hex), "%016llx%016llx",
           (unsigned long long)(a.high64 ^ b.low64),
           (unsigned long long)(a.low64 ^ (b.high64 * 0x9e3779b97f4a7c15ull)));
  return hex;
}

/// Removes the least recently used entries of `dir` until it holds at most
/// `maxBytes` (the entry just written, `keep`, stays).
static void prune(const std::string &dir, uint64_t maxBytes,
                  const std::string &keep) {
  struct Item {
    std::string path;
    uint64_t size;
    llvm::sys::TimePoint<> time;
  };
  std::vector<Item> items;
  uint64_t total = 0;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec)) {
    if (llvm::sys::path::extension(it->path()) != kArtifactExtension)
      continue;
    llvm::sys::fs::file_status st;
    if (llvm::sys::fs::status(it->path(), st))
      continue;
    items.push_back({it->path(), st.getSize(), st.getLastModificationTime()});
    total += st.getSize();
  }
  std::sort(items.begin(), items.end(),
            [](const Item &x, const Item &y) { return x.time < y.time; });
  for (const Item &i : items) {
    if (total <= maxBytes)
      break;
    if (i.path == keep)
      continue;
    if (!llvm::sys::fs::remove(i.path))
      total -= i.size;
  }
}

std::unique_ptr<Executable>
compileWithCache(OwningOpRef<ModuleOp> module, std::vector<std::string> entries,
                 Target target, const CompileOptions &options,
                 const CompileCacheOptions &cache, CacheResult &result,
                 std::string &error) {
  auto t0 = std::chrono::steady_clock::now();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count();
  };
  auto jit = [&](const std::string &note) -> std::unique_ptr<Executable> {
    result.note = note;
    auto cm = entries.size() == 1
                  ? CompiledModel::compile(std::move(module), entries[0], error,
                                           target, options)
                  : CompiledModel::compile(std::move(module), entries, error,
                                           target, options);
    result.seconds = since();
    return cm;
  };
  if (entries.empty()) {
    // The module's only public function; CompiledModel::compile words the
    // error when there is not exactly one.
    for (auto fn : module->getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isDeclaration())
        entries.push_back(fn.getName().str());
    if (entries.size() != 1) {
      entries.clear();
      auto cm = CompiledModel::compile(std::move(module), std::string(), error,
                                       target, options);
      result.seconds = since();
      return cm;
    }
  }
  if (cache.directory.empty())
    return jit("the compile cache is off");
  if (target != Target::Cpu)
    return jit("the compile cache holds CPU code only");
  if (options.perfMap)
    return jit("a perf map needs the JIT");

  const std::string key = compileCacheKey(*module, entries, options);
  llvm::SmallString<256> path(cache.directory);
  llvm::sys::path::append(path, key + kArtifactExtension);
  result.path = path.str().str();
  if (llvm::sys::fs::exists(path)) {
    std::string why;
    if (auto artifact = Artifact::open(result.path, why)) {
      // The entries must be the ones asked for, in that order.
      bool same = artifact->entries().size() == entries.size();
      for (size_t i = 0; same && i < entries.size(); ++i)
        same = artifact->entries()[i].name == entries[i];
      if (same) {
        // Recently used: pruning removes the oldest first.
        int fd;
        if (!llvm::sys::fs::openFileForWrite(result.path, fd,
                                             llvm::sys::fs::CD_OpenExisting,
                                             llvm::sys::fs::OF_Append)) {
          (void)llvm::sys::fs::setLastAccessAndModificationTime(
              fd, std::chrono::system_clock::now());
          llvm::sys::Process::SafelyCloseFileDescriptor(fd);
        }
        result.hit = true;
        result.seconds = since();
        return artifact;
      }
    }
    result.rebuilt = true;
  }
  if (std::error_code ec = llvm::sys::fs::create_directories(cache.directory))
    return jit("cannot create the compile cache " + cache.directory + ": " +
               ec.message());
  ArtifactOptions aot;
  aot.entries = entries;
  aot.compile = options;
  ArtifactStats stats;
  if (!writeArtifact(std::move(module), result.path, aot, stats, error))
    return nullptr;
  auto artifact = Artifact::open(result.path, error);
  if (!artifact)
    return nullptr;
  if (cache.maxBytes)
    prune(cache.directory, cache.maxBytes, result.path);
  result.seconds = since();
  return artifact;
}

} // namespace onebit
