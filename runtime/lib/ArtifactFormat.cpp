//===- ArtifactFormat.cpp - encode and decode a .onebit artifact's metadata ===//

#include "onebit/Runtime/ArtifactFormat.h"

#include <cpuid.h>
#include <cstring>

namespace onebit {
namespace artifact {

void putU32(char *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = char((v >> (8 * i)) & 0xff);
}
void putU64(char *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = char((v >> (8 * i)) & 0xff);
}
uint32_t getU32(const char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= uint32_t(uint8_t(p[i])) << (8 * i);
  return v;
}
uint64_t getU64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(uint8_t(p[i])) << (8 * i);
  return v;
}

bool parseCudaChip(const std::string &chip, int &major, int &minor) {
  if (chip.size() < 5 || chip.compare(0, 3, "sm_") != 0)
    return false;
  size_t end = chip.size();
  // Architecture-specific variants (sm_90a, sm_100f) run where the chip does.
  if (chip[end - 1] == 'a' || chip[end - 1] == 'f')
    --end;
  const std::string digits = chip.substr(3, end - 3);
  if (digits.size() < 2 || digits.size() > 3)
    return false;
  for (char c : digits)
    if (c < '0' || c > '9')
      return false;
  major = std::stoi(digits.substr(0, digits.size() - 1));
  minor = digits.back() - '0';
  return major > 0;
}

std::string checkCudaDevice(const std::string &chip, int major, int minor,
                            const std::string &device) {
  int cmajor, cminor;
  if (!parseCudaChip(chip, cmajor, cminor))
    return "the CUDA chip '" + chip + "' is not a name like sm_80";
  if (major > cmajor || (major == cmajor && minor >= cminor))
    return "";
  return "compiled for " + chip + " (compute capability " +
         std::to_string(cmajor) + "." + std::to_string(cminor) +
         "), but the GPU " + (device.empty() ? "" : "'" + device + "' ") +
         "has compute capability " + std::to_string(major) + "." +
         std::to_string(minor) + "; recompile with --chip sm_" +
         std::to_string(major) + std::to_string(minor);
}

uint32_t ptxIsaOf(const std::string &features) {
  uint32_t best = 0;
  for (size_t at = features.find("+ptx"); at != std::string::npos;
       at = features.find("+ptx", at + 1)) {
    uint32_t v = 0;
    size_t i = at + 4;
    for (; i < features.size() && features[i] >= '0' && features[i] <= '9' &&
           v < 1000;
         ++i)
      v = v * 10 + uint32_t(features[i] - '0');
    if (i > at + 4 && v > best)
      best = v;
  }
  return best;
}

int minCudaDriverForPtx(uint32_t isa) {
  // PTX ISA 6.0 came with CUDA 9.0, 6.3 with 10.0, 7.0 with 11.0, 8.0 with
  // 12.0, 9.0 with 13.0; within a major version ISA x.y came with CUDA
  // (x+4).y, except 8.6-8.8, which came with CUDA 12.7-12.9.
  const uint32_t major = isa / 10, minor = isa % 10;
  auto cuda = [](int m, int n) { return m * 1000 + n * 10; };
  switch (major) {
  case 6:
    return minor < 3 ? cuda(9, int(minor)) : cuda(10, int(minor) - 3);
  case 7:
    return cuda(11, int(minor));
  case 8:
    return cuda(12, int(minor) + (minor >= 6 ? 1 : 0));
  case 9:
    return cuda(13, int(minor));
  default:
    return 0;
  }
}

std::string checkCudaDriver(uint32_t isa, int driver) {
  const int need = minCudaDriverForPtx(isa);
  if (need == 0 || driver >= need)
    return "";
  auto version = [](int v) {
    return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
  };
  return "its kernels are PTX ISA " + std::to_string(isa / 10) + "." +
         std::to_string(isa % 10) + ", which needs a CUDA " + version(need) +
         " driver, but this driver is CUDA " + version(driver) +
         "; recompile with an older --gpu-features (+ptx" +
         std::to_string(isa) + " now) or update the driver";
}

uint64_t checksum(const char *data, size_t size, uint64_t h) {
  for (size_t i = 0; i < size; ++i) {
    h ^= uint8_t(data[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {

class Writer {
public:
  void u8(uint8_t v) { out_.push_back(char(v)); }
  void u32(uint32_t v) {
    char b[4];
    putU32(b, v);
    out_.append(b, 4);
  }
  void u64(uint64_t v) {
    char b[8];
    putU64(b, v);
    out_.append(b, 8);
  }
  void i64(int64_t v) { u64(uint64_t(v)); }
  void i32(int32_t v) { u32(uint32_t(v)); }
  void str(const std::string &s) {
    u64(s.size());
    out_.append(s);
  }
  void ints(const std::vector<int> &v) {
    u32(uint32_t(v.size()));
    for (int x : v)
      i32(x);
  }
  void signature(const TensorSignature &s) {
    u8(uint8_t(s.dtype));
    u32(uint32_t(s.shape.size()));
    for (int64_t d : s.shape)
      i64(d);
    str(s.name);
    u8(s.hasIndexRange);
    i64(s.indexMin);
    i64(s.indexBound);
    str(s.indexUser);
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

/// Reads what Writer wrote; the first read past the end (or a count that
/// cannot fit in what is left) sets the error and every later read yields 0.
class Reader {
public:
  explicit Reader(std::string_view bytes) : in_(bytes) {}

  bool ok() const { return error_.empty(); }
  const std::string &error() const { return error_; }
  void fail(const std::string &why) {
    if (error_.empty())
      error_ = why;
  }
  bool atEnd() const { return pos_ == in_.size(); }

  uint8_t u8() {
    if (!need(1, "a byte"))
      return 0;
    return uint8_t(in_[pos_++]);
  }
  uint32_t u32() {
    if (!need(4, "a 32-bit field"))
      return 0;
    uint32_t v = getU32(in_.data() + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t u64() {
    if (!need(8, "a 64-bit field"))
      return 0;
    uint64_t v = getU64(in_.data() + pos_);
    pos_ += 8;
    return v;
  }
  int64_t i64() { return int64_t(u64()); }
  int32_t i32() { return int32_t(u32()); }
  std::string str() {
    uint64_t n = u64();
    if (!need(n, "a string"))
      return {};
    std::string s(in_.data() + pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  /// A count of items that each take at least `minBytes` bytes.
  uint64_t count(uint64_t n, uint64_t minBytes, const char *what) {
    if (ok() && minBytes && n > (in_.size() - pos_) / minBytes) {
      fail(std::string("the metadata's count of ") + what + " (" +
           std::to_string(n) + ") exceeds its size");
      return 0;
    }
    return ok() ? n : 0;
  }
  std::vector<int> ints(const char *what) {
    uint64_t n = count(u32(), 4, what);
    std::vector<int> v;
    for (uint64_t i = 0; i < n && ok(); ++i)
      v.push_back(i32());
    return v;
  }
  TensorSignature signature() {
    TensorSignature s;
    uint8_t dt = u8();
    if (dt >= kNumDTypes)
      fail("an element type code " + std::to_string(dt) + " is unknown");
    s.dtype = DType(ok() ? dt : 0);
    uint64_t rank = count(u32(), 8, "dimensions");
    for (uint64_t i = 0; i < rank && ok(); ++i) {
      int64_t d = i64();
      if (d < 0 && !isDynamicDim(d))
        fail("a dimension is negative (" + std::to_string(d) + ")");
      s.shape.push_back(d);
    }
    s.name = str();
    s.hasIndexRange = u8() != 0;
    s.indexMin = i64();
    s.indexBound = i64();
    s.indexUser = str();
    return s;
  }

private:
  bool need(uint64_t n, const char *what) {
    if (!ok())
      return false;
    if (n > in_.size() - pos_) {
      fail(std::string("the metadata ends inside ") + what);
      return false;
    }
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

bool inRange(int i, size_t n) { return i >= 0 && size_t(i) < n; }

bool isIntType(DType t) { return t == DType::I64 || t == DType::I32; }

/// What Executable::runRefs relies on: argument indices in range and the
/// shapes of KV-cache arguments (checkCachePosition reads their dims).
std::string checkEntry(const Executable::Entry &e) {
  const size_t n = e.inputs.size();
  const std::string at = "entry @" + e.name + ": ";
  for (int a : e.inplaceArgs)
    if (!inRange(a, n))
      return at + "an in-place argument index is out of range";
  if (e.tokensArg != -1 &&
      (!inRange(e.tokensArg, n) || e.inputs[e.tokensArg].shape.size() != 2))
    return at + "the token ids argument has the wrong index or rank";
  // The code reads a tabled argument's shape from its own constants, so
  // the signature must be static for the runtime's checks to hold.
  for (size_t k = 0; k < e.tableArgs.size(); ++k) {
    const int a = e.tableArgs[k];
    if (!inRange(a, n) || (k > 0 && a <= e.tableArgs[k - 1]))
      return at + "the arguments taken by address are not ascending "
                  "argument indices";
    for (int64_t d : e.inputs[a].shape)
      if (isDynamicDim(d))
        return at + "an argument taken by address has a dynamic size";
  }
  if ((e.positionArg >= 0) != !e.cacheArgs.empty() ||
      (e.positionArg >= 0 && e.tokensArg < 0))
    return at + "KV-cache arguments are incomplete";
  if (e.positionArg == -1)
    return "";
  if (!inRange(e.positionArg, n) || !e.inputs[e.positionArg].shape.empty() ||
      !isIntType(e.inputs[e.positionArg].dtype))
    return at + "the cache position has the wrong index or type";
  for (int c : e.cacheArgs) {
    bool inplace = false;
    for (int a : e.inplaceArgs)
      inplace |= a == c;
    if (!inRange(c, n) || e.inputs[c].shape.size() < 3 || !inplace)
      return at + "a KV cache has the wrong type";
  }
  return "";
}

} // namespace

std::string encodeMetadata(const Metadata &meta) {
  Writer w;
  w.u32(meta.runtimeAbi);
  w.str(meta.producer);
  w.str(meta.target);
  w.str(meta.targetCpu);
  w.u32(uint32_t(meta.cpuFeatures.size()));
  for (const std::string &f : meta.cpuFeatures)
    w.str(f);
  w.str(meta.gpuChip);
  w.str(meta.gpuFeatures);
  w.u32(meta.ptxIsa);
  w.u64(meta.constants.size());
  for (const Constant &c : meta.constants) {
    w.u64(c.offset);
    w.u64(c.size);
  }
  w.u32(uint32_t(meta.entries.size()));
  for (size_t i = 0; i < meta.entries.size(); ++i) {
    const Executable::Entry &e = meta.entries[i];
    w.str(e.name);
    w.str(meta.symbols[i]);
    w.u32(uint32_t(e.inputs.size()));
    for (const TensorSignature &s : e.inputs)
      w.signature(s);
    w.u32(uint32_t(e.results.size()));
    for (const TensorSignature &s : e.results)
      w.signature(s);
    w.ints(e.inplaceArgs);
    w.i32(e.positionArg);
    w.i32(e.tokensArg);
    w.ints(e.cacheArgs);
    w.ints(e.tableArgs);
    w.u8(uint8_t(i < meta.resultMemory.size() ? meta.resultMemory[i]
                                              : ResultMemory::Host));
  }
  w.u64(meta.parameters);
  return w.take();
}

bool decodeMetadata(std::string_view bytes, Metadata &meta,
                    std::string &error) {
  Reader r(bytes);
  meta = Metadata();
  meta.runtimeAbi = r.u32();
  meta.producer = r.str();
  meta.target = r.str();
  meta.targetCpu = r.str();
  uint64_t nf = r.count(r.u32(), 8, "CPU features");
  for (uint64_t i = 0; i < nf && r.ok(); ++i)
    meta.cpuFeatures.push_back(r.str());
  meta.gpuChip = r.str();
  meta.gpuFeatures = r.str();
  meta.ptxIsa = r.u32();
  if (r.ok()) {
    int major, minor;
    if (meta.target == "cpu") {
      if (!meta.gpuChip.empty() || !meta.gpuFeatures.empty() || meta.ptxIsa)
        r.fail("a cpu artifact has a device section");
    } else if (meta.target == "cuda") {
      if (!parseCudaChip(meta.gpuChip, major, minor))
        r.fail("the CUDA chip '" + meta.gpuChip +
               "' is not a name like sm_80");
      else if (meta.ptxIsa == 0)
        r.fail("a cuda artifact without its PTX ISA version");
    } else {
      r.fail("the target '" + meta.target + "' is neither cpu nor cuda");
    }
  }
  uint64_t nc = r.count(r.u64(), 16, "constants");
  for (uint64_t i = 0; i < nc && r.ok(); ++i) {
    Constant c;
    c.offset = r.u64();
    c.size = r.u64();
    meta.constants.push_back(c);
  }
  uint64_t ne = r.count(r.u32(), 16, "entries");
  for (uint64_t i = 0; i < ne && r.ok(); ++i) {
    Executable::Entry e;
    e.name = r.str();
    meta.symbols.push_back(r.str());
    uint64_t ni = r.count(r.u32(), 32, "arguments");
    for (uint64_t k = 0; k < ni && r.ok(); ++k)
      e.inputs.push_back(r.signature());
    uint64_t nr = r.count(r.u32(), 32, "results");
    for (uint64_t k = 0; k < nr && r.ok(); ++k)
      e.results.push_back(r.signature());
    e.inplaceArgs = r.ints("in-place arguments");
    e.positionArg = r.i32();
    e.tokensArg = r.i32();
    e.cacheArgs = r.ints("KV caches");
    e.tableArgs = r.ints("arguments taken by address");
    uint8_t memory = r.u8();
    if (r.ok() && memory > uint8_t(ResultMemory::CudaManaged))
      r.fail("entry @" + e.name + ": result memory kind " +
             std::to_string(memory) + " is unknown");
    else if (r.ok() && meta.target == "cpu" &&
             ResultMemory(memory) != ResultMemory::Host)
      r.fail("entry @" + e.name + ": a cpu artifact's results in device "
             "memory");
    meta.resultMemory.push_back(ResultMemory(r.ok() ? memory : 0));
    if (r.ok()) {
      std::string why = checkEntry(e);
      if (!why.empty())
        r.fail(why);
    }
    meta.entries.push_back(std::move(e));
  }
  meta.parameters = r.u64();
  if (r.ok() && meta.entries.empty())
    r.fail("the artifact has no entries");
  if (r.ok() && !r.atEnd())
    r.fail("the metadata has trailing bytes");
  if (!r.ok()) {
    error = "malformed metadata: " + r.error();
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// CPU features
//===----------------------------------------------------------------------===//

namespace {

struct FeatureBit {
  const char *name;
  unsigned leaf, subleaf;
  int reg; ///< 0 eax, 1 ebx, 2 ecx, 3 edx
  int bit;
  int state; ///< 0 none, 1 AVX state (XCR0 & 6), 2 AVX-512, 3 AMX
};

const FeatureBit kFeatures[] = {
    {"sse2", 1, 0, 3, 26, 0},          {"sse3", 1, 0, 2, 0, 0},
    {"ssse3", 1, 0, 2, 9, 0},          {"fma", 1, 0, 2, 12, 1},
    {"sse4.1", 1, 0, 2, 19, 0},        {"sse4.2", 1, 0, 2, 20, 0},
    {"movbe", 1, 0, 2, 22, 0},         {"popcnt", 1, 0, 2, 23, 0},
    {"aes", 1, 0, 2, 25, 0},           {"avx", 1, 0, 2, 28, 1},
    {"f16c", 1, 0, 2, 29, 1},          {"bmi", 7, 0, 1, 3, 0},
    {"avx2", 7, 0, 1, 5, 1},           {"bmi2", 7, 0, 1, 8, 0},
    {"avx512f", 7, 0, 1, 16, 2},       {"avx512dq", 7, 0, 1, 17, 2},
    {"adx", 7, 0, 1, 19, 0},           {"avx512ifma", 7, 0, 1, 21, 2},
    {"avx512cd", 7, 0, 1, 28, 2},      {"sha", 7, 0, 1, 29, 0},
    {"avx512bw", 7, 0, 1, 30, 2},      {"avx512vl", 7, 0, 1, 31, 2},
    {"avx512vbmi", 7, 0, 2, 1, 2},     {"avx512vbmi2", 7, 0, 2, 6, 2},
    {"gfni", 7, 0, 2, 8, 0},           {"vaes", 7, 0, 2, 9, 1},
    {"vpclmulqdq", 7, 0, 2, 10, 1},    {"avx512vnni", 7, 0, 2, 11, 2},
    {"avx512bitalg", 7, 0, 2, 12, 2},  {"avx512vpopcntdq", 7, 0, 2, 14, 2},
    {"amx-bf16", 7, 0, 3, 22, 3},      {"avx512fp16", 7, 0, 3, 23, 2},
    {"amx-tile", 7, 0, 3, 24, 3},      {"amx-int8", 7, 0, 3, 25, 3},
    {"avxvnni", 7, 1, 0, 4, 1},        {"avx512bf16", 7, 1, 0, 5, 2},
    {"lzcnt", 0x80000001u, 0, 2, 5, 0},
};

bool cpuidBit(const FeatureBit &f) {
  unsigned regs[4] = {0, 0, 0, 0};
  if (!__get_cpuid_count(f.leaf, f.subleaf, &regs[0], &regs[1], &regs[2],
                         &regs[3]))
    return false;
  return (regs[f.reg] >> f.bit) & 1;
}

/// The register state the OS saves (XCR0), 0 without OSXSAVE.
uint64_t osState() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1))
    return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

} // namespace

bool cpuHasFeature(const std::string &name, bool &known) {
  known = false;
  for (const FeatureBit &f : kFeatures) {
    if (name != f.name)
      continue;
    known = true;
    if (!cpuidBit(f))
      return false;
    const uint64_t xcr0 = f.state ? osState() : 0;
    switch (f.state) {
    case 1:
      return (xcr0 & 0x6) == 0x6;
    case 2:
      return (xcr0 & 0xe6) == 0xe6;
    case 3:
      return (xcr0 & 0x60000) == 0x60000;
    default:
      return true;
    }
  }
  return false;
}

const std::vector<std::string> &knownCpuFeatures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const FeatureBit &f : kFeatures)
      v.push_back(f.name);
    return v;
  }();
  return names;
}

} // namespace artifact
} // namespace onebit
