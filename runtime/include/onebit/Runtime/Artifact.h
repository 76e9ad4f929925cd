//===- Artifact.h - load a compiled model (.onebit) --------------*- C++ -*-===//
//
// Loads what onebit-compile writes (docs/artifacts.md) into an Executable
// without compiling anything: the file is mapped, checked (magic, format
// version, size, checksum, metadata, this CPU's features, the runtime ABI;
// for a cuda artifact the CUDA runtime, the driver and the GPU's compute
// capability), its code is loaded as a shared object from memory, its
// constants are used where they lie in the mapping, not copied, and then
// its constructors run (for the GPU: the kernels are loaded and the weights
// uploaded once). Plain C++: no MLIR or LLVM; the CUDA runtime
// (libonebit_cuda_runtime.so) is loaded with dlopen, for cuda artifacts
// only.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_ARTIFACT_H
#define ONEBIT_RUNTIME_ARTIFACT_H

#include "onebit/Runtime/ArtifactFormat.h"
#include "onebit/Runtime/Executable.h"

#include <memory>
#include <string>
#include <string_view>

namespace onebit {

/// The file extension of artifacts.
inline constexpr const char *kArtifactExtension = ".onebit";

/// Whether the file at `path` starts with an artifact's magic bytes.
bool isArtifactFile(const std::string &path);
/// Whether the tools take `path` for an artifact: its extension is
/// kArtifactExtension or it starts with the magic (a file named .onebit
/// that is not one then gets the loader's "not a onebit artifact").
bool isArtifactPath(const std::string &path);

class Artifact : public Executable {
public:
  ~Artifact() override;

  /// Opens and checks `path`; null + `error` (naming the file and what is
  /// wrong with it) when it is not an artifact this runtime can run here.
  static std::unique_ptr<Artifact> open(const std::string &path,
                                        std::string &error);
  /// Opens and checks `path` as `open` does, but neither checks the device
  /// nor loads the code: for reading the metadata of an artifact this
  /// machine cannot run (a cuda artifact without a GPU). Its entries cannot
  /// be run.
  static std::unique_ptr<Artifact> inspect(const std::string &path,
                                           std::string &error);
  /// The same for an artifact already in memory (`bytes` must outlive the
  /// Artifact); `name` names it in errors. Used by the fuzzer, and with
  /// `loadCode` false it checks everything but does not run the loader of
  /// the shared object.
  static std::unique_ptr<Artifact> fromBytes(std::string_view bytes,
                                             const std::string &name,
                                             bool loadCode, std::string &error);

  const artifact::Metadata &metadata() const { return meta_; }
  /// A summary of the metadata, one fact a line: the producer, the target
  /// (CPU and features; for cuda the chip and PTX ISA), the sections' sizes
  /// and each entry with its signature and where its results live.
  std::string describe() const;
  /// The serialized tokenizer (BPETokenizer::serialize), empty if none.
  std::string_view tokenizerBytes() const { return tokenizer_; }
  /// Bytes of the file, and of its constants (mapped, not copied).
  uint64_t fileBytes() const { return bytes_.size(); }
  uint64_t constantBytes() const { return constantBytes_; }
  /// The model's parameter count recorded by onebit-compile.
  uint64_t parameters() const { return meta_.parameters; }

  /// For a cuda artifact: the counters of its load constructor (weights
  /// uploaded once), device memory for state (KV caches). As the JIT's.
  DeviceConstants deviceConstants() const override;
  void *allocateState(size_t bytes, std::string &error) override;
  void freeState(void *state) override;
  bool stateOnDevice() const override { return cuda_; }

private:
  Artifact();
  static std::unique_ptr<Artifact> map(const std::string &path,
                                       bool loadCode, std::string &error);
  bool parse(const std::string &name, bool loadCode, std::string &error);
  bool checkDevice(const std::string &name, std::string &error);
  bool loadSharedObject(std::string_view code, const std::string &name,
                        std::string &error);

  std::string_view bytes_;
  void *mapping_ = nullptr; ///< mmap of the file (open), else null
  size_t mappingSize_ = 0;
  void *library_ = nullptr; ///< dlopen handle of the code
  int codeFd_ = -1;         ///< the in-memory file holding the code
  artifact::Metadata meta_;
  std::string_view tokenizer_;
  uint64_t constantBytes_ = 0;
  uint64_t constantsOffset_ = 0; ///< of the constants section in the file
  /// The code's destructors (kFiniSymbol), run before it is unloaded when
  /// its constructors ran.
  void (*fini_)() = nullptr;
  bool cuda_ = false; ///< target "cuda": state memory is device memory
};

} // namespace onebit

#endif // ONEBIT_RUNTIME_ARTIFACT_H
