//===- Artifact.cpp - load a compiled model (.onebit) ---------------------===//

#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/Allocator.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace onebit {

using namespace artifact;

namespace {

/// The entry points of libonebit_cuda_runtime.so a cuda artifact needs
/// from its loader (runtime/include/onebit/Runtime/CudaRuntime.h). The
/// library is loaded once per process, with dlopen: a program that runs
/// CPU artifacts never needs it, and the artifact's code, linked against
/// it, then finds it loaded (by its soname) instead of searching for it.
struct CudaApi {
  void *handle = nullptr;
  int (*probe)(char *, size_t) = nullptr;
  int (*deviceInfo)(int *, int *, int *, char *, size_t, char *,
                    size_t) = nullptr;
  void *(*allocDevice)(size_t, char *, size_t) = nullptr;
  void (*freeDevice)(void *) = nullptr;
  void (*memFree)(void *, void *) = nullptr;
  std::string error; ///< why it cannot be used, empty when it can
};

const CudaApi &cudaApi() {
  static CudaApi api;
  static std::once_flag once;
  std::call_once(once, [] {
    // Next to the kernel library (the build tree's lib/, an install's
    // libdir, a GPU bundle's lib/), else wherever the dynamic loader looks.
    std::string path = "libonebit_cuda_runtime.so";
    Dl_info info;
    if (::dladdr(reinterpret_cast<void *>(&_mlir_memref_to_llvm_free),
                 &info) &&
        info.dli_fname) {
      std::string dir = info.dli_fname;
      size_t slash = dir.rfind('/');
      if (slash != std::string::npos) {
        std::string next = dir.substr(0, slash + 1) + path;
        if (::access(next.c_str(), R_OK) == 0)
          path = next;
      }
    }
    api.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!api.handle) {
      const char *why = ::dlerror();
      api.error = "cannot load the CUDA runtime libonebit_cuda_runtime.so: " +
                  std::string(why ? why : "dlopen failed");
      return;
    }
    auto sym = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          ::dlsym(api.handle, name));
      if (!fn && api.error.empty())
        api.error = std::string("the CUDA runtime ") + path + " lacks " + name;
    };
    sym(api.probe, "onebitCudaProbe");
    sym(api.deviceInfo, "onebitCudaDeviceInfo");
    sym(api.allocDevice, "onebitCudaAllocDevice");
    sym(api.freeDevice, "onebitCudaFreeDevice");
    sym(api.memFree, "mgpuMemFree");
  });
  return api;
}

/// Results of a cuda artifact's entries: managed memory.
void freeManaged(void *p) { cudaApi().memFree(p, nullptr); }

} // namespace

bool isArtifactPath(const std::string &path) {
  const size_t n = std::strlen(kArtifactExtension);
  return (path.size() >= n &&
          path.compare(path.size() - n, n, kArtifactExtension) == 0) ||
         isArtifactFile(path);
}

bool isArtifactFile(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char magic[sizeof(kMagic)];
  bool yes = ::read(fd, magic, sizeof(magic)) == ssize_t(sizeof(magic)) &&
             std::memcmp(magic, kMagic, sizeof(kMagic)) == 0;
  ::close(fd);
  return yes;
}

Artifact::Artifact() : Executable(&_mlir_memref_to_llvm_free) {}

Artifact::~Artifact() {
  // The code's destructors (the GPU's: free the weights' device copies,
  // unload the kernels) while it is still loaded.
  if (fini_)
    fini_();
  if (library_)
    ::dlclose(library_);
  if (codeFd_ >= 0)
    ::close(codeFd_);
  if (mapping_)
    ::munmap(mapping_, mappingSize_);
}

std::unique_ptr<Artifact> Artifact::open(const std::string &path,
                                         std::string &error) {
  return map(path, /*loadCode=*/true, error);
}

std::unique_ptr<Artifact> Artifact::inspect(const std::string &path,
                                            std::string &error) {
  return map(path, /*loadCode=*/false, error);
}

std::unique_ptr<Artifact> Artifact::map(const std::string &path,
                                        bool loadCode, std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<Artifact> a(new Artifact());
  if (st.st_size > 0) {
    void *p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      error = path + ": cannot map: " + std::strerror(errno);
      ::close(fd);
      return nullptr;
    }
    a->mapping_ = p;
    a->mappingSize_ = size_t(st.st_size);
    a->bytes_ = std::string_view(static_cast<const char *>(p), a->mappingSize_);
  }
  ::close(fd);
  if (!a->parse(path, loadCode, error))
    return nullptr;
  return a;
}

std::unique_ptr<Artifact> Artifact::fromBytes(std::string_view bytes,
                                              const std::string &name,
                                              bool loadCode,
                                              std::string &error) {
  std::unique_ptr<Artifact> a(new Artifact());
  a->bytes_ = bytes;
  if (!a->parse(name, loadCode, error))
    return nullptr;
  return a;
}

/// The sections of `bytes`, each inside the file; false + `why` otherwise.
static bool readSections(std::string_view bytes, std::vector<Section> &out,
                         std::string &why) {
  const char *h = bytes.data();
  uint32_t count = getU32(h + 12);
  if (count > kMaxSections) {
    why = "the header lists " + std::to_string(count) + " sections (at most " +
          std::to_string(kMaxSections) + ")";
    return false;
  }
  if (kHeaderSize + uint64_t(count) * kSectionEntrySize > bytes.size()) {
    why = "the section table runs past the end of the file";
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) {
    const char *e = h + kHeaderSize + i * kSectionEntrySize;
    Section s;
    uint32_t kind = getU32(e);
    s.offset = getU64(e + 8);
    s.size = getU64(e + 16);
    if (kind < uint32_t(SectionKind::Metadata) ||
        kind > uint32_t(SectionKind::Tokenizer)) {
      why = "section " + std::to_string(i) + " has an unknown kind " +
            std::to_string(kind);
      return false;
    }
    s.kind = SectionKind(kind);
    if (s.offset > bytes.size() || s.size > bytes.size() - s.offset) {
      why = "section " + std::to_string(i) + " ([" + std::to_string(s.offset) +
            ", +" + std::to_string(s.size) + ")) lies outside the file's " +
            std::to_string(bytes.size()) + " bytes";
      return false;
    }
    for (const Section &o : out)
      if (o.kind == s.kind) {
        why = "section kind " + std::to_string(kind) + " appears twice";
        return false;
      }
    out.push_back(s);
  }
  return true;
}

static const Section *findSection(const std::vector<Section> &sections,
                                  SectionKind kind) {
  for (const Section &s : sections)
    if (s.kind == kind)
      return &s;
  return nullptr;
}

bool Artifact::parse(const std::string &name, bool loadCode,
                     std::string &error) {
  auto fail = [&](const std::string &why) {
    error = name + ": " + why;
    return false;
  };
  if (bytes_.size() < sizeof(kMagic) ||
      std::memcmp(bytes_.data(), kMagic, sizeof(kMagic)) != 0)
    return fail("not a onebit artifact (it does not start with \"ONEBITAF\"; "
                "onebit-compile writes them)");
  if (bytes_.size() < kHeaderSize)
    return fail("truncated: " + std::to_string(bytes_.size()) +
                " bytes, shorter than the " + std::to_string(kHeaderSize) +
                "-byte header");
  const char *h = bytes_.data();
  uint32_t version = getU32(h + 8);
  if (version != kFormatVersion)
    return fail("artifact format version " + std::to_string(version) +
                ", but this runtime reads version " +
                std::to_string(kFormatVersion) +
                "; recompile the model with this onebit-compile");
  uint64_t declared = getU64(h + 16);
  if (declared != bytes_.size())
    return fail(declared > bytes_.size()
                    ? "truncated: the header says " + std::to_string(declared) +
                          " bytes but the file has " +
                          std::to_string(bytes_.size())
                    : "the header says " + std::to_string(declared) +
                          " bytes but the file has " +
                          std::to_string(bytes_.size()));
  std::vector<Section> sections;
  std::string why;
  if (!readSections(bytes_, sections, why))
    return fail(why);
  const Section *meta = findSection(sections, SectionKind::Metadata);
  const Section *code = findSection(sections, SectionKind::Code);
  const Section *consts = findSection(sections, SectionKind::Constants);
  const Section *tok = findSection(sections, SectionKind::Tokenizer);
  if (!meta || !code)
    return fail("the artifact has no metadata or no code section");
  uint64_t sum = kChecksumSeed;
  for (const Section &s : sections)
    if (s.kind != SectionKind::Constants)
      sum = checksum(bytes_.data() + s.offset, size_t(s.size), sum);
  if (sum != getU64(h + 24))
    return fail("corrupt: the checksum of its metadata and code does not "
                "match");
  if (!decodeMetadata(bytes_.substr(meta->offset, meta->size), meta_, why))
    return fail(why);
  if (meta_.runtimeAbi != kRuntimeAbi)
    return fail("compiled for runtime ABI " + std::to_string(meta_.runtimeAbi) +
                " by " + meta_.producer + ", but this runtime has ABI " +
                std::to_string(kRuntimeAbi) + "; recompile the model");
  std::string missing;
  for (const std::string &f : meta_.cpuFeatures) {
    bool known;
    if (!cpuHasFeature(f, known))
      missing += (missing.empty() ? "" : ", ") + f +
                 (known ? "" : " (unknown to this runtime)");
  }
  if (!missing.empty())
    return fail("compiled for CPU '" + meta_.targetCpu +
                "', which needs features this CPU lacks: " + missing +
                "; recompile with --target-cpu native (or x86-64-v3 for any "
                "AVX2 machine)");
  // Constants: inside their section, aligned, and the section page-aligned
  // in the file, so that in the mapping they are as aligned as the code
  // assumes.
  uint64_t cbase = consts ? consts->offset : 0, csize = consts ? consts->size : 0;
  if (!meta_.constants.empty() && !consts)
    return fail("the metadata lists constants but there is no constants "
                "section");
  if (consts && cbase % kPageAlign != 0)
    return fail("the constants section is not page-aligned");
  constantsOffset_ = cbase;
  constantBytes_ = 0;
  for (size_t i = 0; i < meta_.constants.size(); ++i) {
    const Constant &c = meta_.constants[i];
    if (c.offset % kConstantAlign != 0 || c.offset > csize ||
        c.size > csize - c.offset)
      return fail("constant " + std::to_string(i) +
                  " lies outside the constants section or is misaligned");
    constantBytes_ += c.size;
  }
  tokenizer_ = tok ? bytes_.substr(tok->offset, tok->size) : std::string_view();
  entries_ = meta_.entries;
  cuda_ = meta_.target == "cuda";
  if (!loadCode)
    return true;
  // Before any of the code runs: its constructors load the kernels.
  if (cuda_ && !checkDevice(name, error))
    return false;
  return loadSharedObject(bytes_.substr(code->offset, code->size), name,
                          error);
}

bool Artifact::checkDevice(const std::string &name, std::string &error) {
  const std::string what = "compiled for the GPU (cuda, " + meta_.gpuChip +
                           ")";
  const CudaApi &api = cudaApi();
  if (!api.error.empty()) {
    error = name + ": " + what + ", but " + api.error;
    return false;
  }
  char why[512] = {0};
  if (api.probe(why, sizeof(why)) != 0) {
    error = name + ": " + what + ", but no CUDA driver/GPU is usable here (" +
            why + ")";
    return false;
  }
  int major = 0, minor = 0, driver = 0;
  char device[256] = {0};
  if (api.deviceInfo(&major, &minor, &driver, device, sizeof(device), why,
                     sizeof(why)) != 0) {
    error = name + ": " + what + ", but the GPU's compute capability cannot "
            "be read (" + why + ")";
    return false;
  }
  std::string problem = checkCudaDevice(meta_.gpuChip, major, minor, device);
  // The driver JIT-compiles the PTX when the constructors load it: one too
  // old for its ISA would fail there, inside the code.
  if (problem.empty())
    problem = checkCudaDriver(meta_.ptxIsa, driver);
  if (!problem.empty()) {
    error = name + ": " + problem;
    return false;
  }
  return true;
}

std::string Artifact::describe() const {
  std::string out = "producer: " + meta_.producer + "\n";
  out += "target: " + meta_.target + "\n";
  out += "host cpu: " + meta_.targetCpu + "\n";
  std::string features;
  for (const std::string &f : meta_.cpuFeatures)
    features += (features.empty() ? "" : " ") + f;
  out += "cpu features: " + features + "\n";
  if (meta_.target == "cuda")
    out += "gpu chip: " + meta_.gpuChip + "\ngpu features: " +
           meta_.gpuFeatures + "\nptx isa: " +
           std::to_string(meta_.ptxIsa / 10) + "." +
           std::to_string(meta_.ptxIsa % 10) + "\n";
  out += "file: " + std::to_string(bytes_.size()) + " bytes, constants " +
         std::to_string(constantBytes_) + " bytes in " +
         std::to_string(meta_.constants.size()) + " arrays, tokenizer " +
         (tokenizer_.empty() ? "none" : std::to_string(tokenizer_.size()) +
                                            " bytes") +
         "\n";
  out += "parameters: " + std::to_string(meta_.parameters) + "\n";
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry &e = entries_[i];
    out += "entry @" + e.name + "(";
    for (size_t k = 0; k < e.inputs.size(); ++k)
      out += (k ? ", " : "") + e.inputs[k].name + ": " + e.inputs[k].str();
    out += ") -> (";
    for (size_t k = 0; k < e.results.size(); ++k)
      out += (k ? ", " : "") + e.results[k].name + ": " + e.results[k].str();
    const bool managed = i < meta_.resultMemory.size() &&
                         meta_.resultMemory[i] == ResultMemory::CudaManaged;
    out += std::string(") results: ") +
           (managed ? "cuda managed memory (mgpuMemFree)"
                    : "host memory (_mlir_memref_to_llvm_free)") +
           "\n";
  }
  return out;
}

DeviceConstants Artifact::deviceConstants() const {
  DeviceConstants c;
  if (!library_ || !cuda_)
    return c;
  auto read = [&](const char *symbol, int64_t &value) {
    if (auto *p = static_cast<const int64_t *>(::dlsym(library_, symbol)))
      value = *p;
  };
  read("onebit_gpu_uploads", c.uploads);
  read("onebit_gpu_upload_bytes", c.uploadBytes);
  read("onebit_gpu_resident_bytes", c.residentBytes);
  return c;
}

void *Artifact::allocateState(size_t bytes, std::string &error) {
  if (!cuda_)
    return Executable::allocateState(bytes, error);
  const CudaApi &api = cudaApi();
  if (!api.error.empty()) {
    error = api.error;
    return nullptr;
  }
  char why[512] = {0};
  void *p = api.allocDevice(bytes, why, sizeof(why));
  if (!p)
    error = why;
  return p;
}

void Artifact::freeState(void *state) {
  if (!cuda_)
    return Executable::freeState(state);
  if (state)
    cudaApi().freeDevice(state);
}

bool Artifact::loadSharedObject(std::string_view code, const std::string &name,
                                std::string &error) {
  // dlopen reads files: hand it the code through an anonymous in-memory
  // file, so nothing is written to disk and nothing is left behind.
  int fd = ::memfd_create("onebit-artifact", MFD_CLOEXEC);
  if (fd < 0) {
    error = name + ": cannot create an in-memory file for the code: " +
            std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < code.size()) {
    ssize_t n = ::write(fd, code.data() + done, code.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      error = name + ": cannot write the code to memory: " +
              std::strerror(errno);
      ::close(fd);
      return false;
    }
    done += size_t(n);
  }
  // The descriptor stays open while the code is loaded: the loader knows
  // libraries by path, and a closed descriptor's number, reused by the next
  // artifact's code, would name the same path and get this library back.
  codeFd_ = fd;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  library_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library_) {
    const char *why = ::dlerror();
    error = name + ": cannot load its code: " + (why ? why : "dlopen failed");
    return false;
  }
  if (!meta_.constants.empty()) {
    auto **table =
        static_cast<const void **>(::dlsym(library_, kConstantTableSymbol));
    if (!table) {
      error = name + ": its code has no constant table";
      return false;
    }
    for (size_t i = 0; i < meta_.constants.size(); ++i)
      table[i] = bytes_.data() + constantsOffset_ + meta_.constants[i].offset;
  }
  // Each entry's results go back to the allocator they came from.
  for (ResultMemory m : meta_.resultMemory)
    entryFreeResult_.push_back(m == ResultMemory::CudaManaged
                                   ? &freeManaged
                                   : &_mlir_memref_to_llvm_free);
  // The constructors, now that the constant table is filled (for the GPU
  // they upload the weights from it) and the device was checked.
  if (auto init =
          reinterpret_cast<void (*)()>(::dlsym(library_, kInitSymbol))) {
    init();
    fini_ = reinterpret_cast<void (*)()>(::dlsym(library_, kFiniSymbol));
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    void *fn = ::dlsym(library_, meta_.symbols[i].c_str());
    if (!fn) {
      error = name + ": its code has no entry point " + meta_.symbols[i];
      return false;
    }
    packed_.push_back(reinterpret_cast<PackedFn>(fn));
  }
  return true;
}

} // namespace onebit
