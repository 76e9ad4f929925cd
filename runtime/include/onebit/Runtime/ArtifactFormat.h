//===- ArtifactFormat.h - the layout of a .onebit artifact ------*- C++ -*-===//
//
// A compiled model in one file (docs/artifacts.md): a header, a section
// table, and sections for the metadata, the tokenizer, the code (an ELF
// shared object) and the constants (the packed weights, page-aligned so a
// loader maps them instead of copying). The writer is onebit-compile's
// library (onebit/Target/Artifact/ArtifactWriter.h), the reader
// onebit/Runtime/Artifact.h; both encode and decode the metadata here.
// Plain C++: every read of untrusted bytes is bounds-checked.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_ARTIFACTFORMAT_H
#define ONEBIT_RUNTIME_ARTIFACTFORMAT_H

#include "onebit/Runtime/Executable.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace onebit {
namespace artifact {

/// The first 8 bytes of every artifact.
inline constexpr char kMagic[8] = {'O', 'N', 'E', 'B', 'I', 'T', 'A', 'F'};
/// The container layout this runtime reads; a file of another version is
/// refused (recompile it with the matching onebit-compile). 4 added each
/// entry's arguments taken by address (Executable::Entry::tableArgs); 3
/// added the device section (target cuda, chip, PTX ISA) and each entry's
/// result memory; 2 lacked them, 1 also lacked the parameter count.
inline constexpr uint32_t kFormatVersion = 4;
/// The calling contract between compiled code and the kernel library (the
/// runtime entry points and their argument order). Bumped with any change.
inline constexpr uint32_t kRuntimeAbi = 1;
/// Constants are aligned to this in the file (and so in memory): compiled
/// code may use aligned vector loads on them.
inline constexpr uint64_t kConstantAlign = 64;
/// The constants section starts on a page boundary.
inline constexpr uint64_t kPageAlign = 4096;
/// The compiled code's table of constant addresses, filled by the loader.
inline constexpr const char *kConstantTableSymbol = "__onebit_constants";
/// The code's static constructors and destructors (LLVM's global_ctors and
/// global_dtors: for the GPU, loading the kernels' PTX and uploading the
/// weights), gathered into two functions the loader calls itself: the
/// constructors after it has checked the device and filled the constant
/// table (the weights' upload reads them), the destructors before it
/// unloads the code. dlopen alone runs none of them.
inline constexpr const char *kInitSymbol = "__onebit_init";
inline constexpr const char *kFiniSymbol = "__onebit_fini";

/// Where an entry's results live, so the loader frees them with the
/// matching deallocator.
enum class ResultMemory : uint8_t {
  /// The kernel library's allocator (_mlir_memref_to_llvm_free).
  Host = 0,
  /// CUDA managed memory (mgpuMemAlloc host_shared), freed with mgpuMemFree.
  CudaManaged = 1,
};

enum class SectionKind : uint32_t {
  Metadata = 1,
  Code = 2,
  Constants = 3,
  Tokenizer = 4,
};

/// The header is kHeaderSize bytes, little-endian:
///   magic[8] | u32 format version | u32 section count | u64 file size |
///   u64 checksum (FNV-1a of every section but the constants) | 32 zeros;
/// then `section count` entries of kSectionEntrySize bytes:
///   u32 kind | u32 0 | u64 offset | u64 size.
inline constexpr size_t kHeaderSize = 64;
inline constexpr size_t kSectionEntrySize = 24;
inline constexpr uint32_t kMaxSections = 16;

struct Section {
  SectionKind kind;
  uint64_t offset = 0, size = 0;
};

/// One constant of the code: bytes [offset, offset + size) of the
/// constants section; the loader stores its address in slot `index` of the
/// constant table (slots are in metadata order).
struct Constant {
  uint64_t offset = 0, size = 0;
};

/// What the metadata section holds.
struct Metadata {
  uint32_t runtimeAbi = kRuntimeAbi;
  std::string producer;  ///< "onebit-compile <version> (LLVM <version>)"
  std::string target;    ///< "cpu" or "cuda"
  std::string targetCpu; ///< the CPU the (host) code was compiled for
  /// CPU features the code uses (LLVM's names, e.g. "avx512f"): a machine
  /// without one of them cannot run it.
  std::vector<std::string> cpuFeatures;
  /// The device section, for target "cuda" (empty / 0 for "cpu"): the chip
  /// the kernels were compiled for ("sm_80"), the PTX features ("+ptx80")
  /// and the PTX ISA version times 10 (80: PTX 8.0).
  std::string gpuChip;
  std::string gpuFeatures;
  uint32_t ptxIsa = 0;
  std::vector<Constant> constants;
  /// The entries and the symbol of each one's packed entry point.
  std::vector<Executable::Entry> entries;
  std::vector<std::string> symbols;
  /// Where each entry's results live (one per entry).
  std::vector<ResultMemory> resultMemory;
  /// The model's parameter count (a 1-bit weight counts one), for tools
  /// that report it (onebit-bench's params column).
  uint64_t parameters = 0;
};

/// The metadata as bytes.
std::string encodeMetadata(const Metadata &meta);
/// The metadata `bytes` encode; false + `error` when they are malformed or
/// inconsistent (an entry's argument indices out of range, a KV-cache entry
/// without its position, ...): the executable trusts what this accepts.
bool decodeMetadata(std::string_view bytes, Metadata &meta,
                    std::string &error);

/// The compute capability `chip` names ("sm_80" -> 8.0, "sm_90a" -> 9.0,
/// "sm_120" -> 12.0); false when it is not such a name.
bool parseCudaChip(const std::string &chip, int &major, int &minor);
/// Why a device of compute capability major.minor (named `device`) cannot
/// run kernels compiled for `chip`, or "" when it can: PTX compiled for a
/// chip runs on that chip and newer ones (the driver JIT-compiles it).
std::string checkCudaDevice(const std::string &chip, int major, int minor,
                            const std::string &device);
/// The PTX ISA version times 10 that `features` asks for ("+ptx80" -> 80),
/// 0 when it names none.
uint32_t ptxIsaOf(const std::string &features);
/// The oldest CUDA driver that JIT-compiles PTX ISA `isa` (times 10), in
/// cuDriverGetVersion's form (12000: CUDA 12.0); 0 when unknown.
int minCudaDriverForPtx(uint32_t isa);
/// Why a driver of cuDriverGetVersion `driver` cannot load PTX ISA `isa`,
/// or "" when it can (or the ISA is unknown: the load then decides).
std::string checkCudaDriver(uint32_t isa, int driver);

/// FNV-1a, 64 bits.
uint64_t checksum(const char *data, size_t size, uint64_t seed);
inline constexpr uint64_t kChecksumSeed = 0xcbf29ce484222325ull;

/// Little-endian stores and loads.
void putU32(char *p, uint32_t v);
void putU64(char *p, uint64_t v);
uint32_t getU32(const char *p);
uint64_t getU64(const char *p);

/// Whether this CPU has feature `name` (LLVM's spelling); `known` is false
/// for a name the runtime cannot test.
bool cpuHasFeature(const std::string &name, bool &known);
/// The feature names cpuHasFeature knows, so the writer records only them.
const std::vector<std::string> &knownCpuFeatures();

} // namespace artifact
} // namespace onebit

#endif // ONEBIT_RUNTIME_ARTIFACTFORMAT_H
