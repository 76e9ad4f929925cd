//===- GGUFFile.cpp - reading GGUF model files ----------------------------===//

#include "onebit/Target/GGUF/GGUFFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace onebit::gguf {
namespace {

/// Sequential bounds-checked reads; the first failure sticks.
class Cursor {
public:
  Cursor(const uint8_t *data, size_t size) : data_(data), size_(size) {}
  bool ok() const { return error_.empty(); }
  const std::string &error() const { return error_; }
  size_t pos() const { return pos_; }
  void fail(const std::string &what) {
    if (error_.empty())
      error_ = what + " at byte " + std::to_string(pos_);
  }
  bool need(uint64_t n, const char *what) {
    if (!ok())
      return false;
    if (n > size_ - pos_) {
      fail(std::string("file is truncated: cannot read ") + what);
      return false;
    }
    return true;
  }
  template <typename T> T read(const char *what) {
    T v{};
    if (need(sizeof(T), what)) {
      std::memcpy(&v, data_ + pos_, sizeof(T));
      pos_ += sizeof(T);
    }
    return v;
  }
  std::string readString(const char *what) {
    uint64_t n = read<uint64_t>(what);
    if (!need(n, what))
      return {};
    std::string s(reinterpret_cast<const char *>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

private:
  const uint8_t *data_;
  size_t size_;
  size_t pos_ = 0;
  std::string error_;
};

bool readValue(Cursor &c, MetaValue::Kind kind, MetaValue &v, int depth) {
  // `kind` comes straight from the file: range-check it before switching.
  if (uint32_t(kind) > MetaValue::Float64) {
    c.fail("unknown metadata value type " + std::to_string(uint32_t(kind)));
    return false;
  }
  v.kind = kind;
  switch (kind) {
  case MetaValue::UInt8:
    v.u = c.read<uint8_t>("a u8 value");
    break;
  case MetaValue::Int8:
    v.i = c.read<int8_t>("an i8 value");
    break;
  case MetaValue::UInt16:
    v.u = c.read<uint16_t>("a u16 value");
    break;
  case MetaValue::Int16:
    v.i = c.read<int16_t>("an i16 value");
    break;
  case MetaValue::UInt32:
    v.u = c.read<uint32_t>("a u32 value");
    break;
  case MetaValue::Int32:
    v.i = c.read<int32_t>("an i32 value");
    break;
  case MetaValue::Float32:
    v.f = c.read<float>("an f32 value");
    break;
  case MetaValue::Bool:
    v.u = c.read<uint8_t>("a bool value") != 0;
    break;
  case MetaValue::String:
    v.s = c.readString("a string value");
    break;
  case MetaValue::UInt64:
    v.u = c.read<uint64_t>("a u64 value");
    break;
  case MetaValue::Int64:
    v.i = c.read<int64_t>("an i64 value");
    break;
  case MetaValue::Float64:
    v.f = c.read<double>("an f64 value");
    break;
  case MetaValue::Array: {
    if (depth > 4) {
      c.fail("metadata arrays nested too deeply");
      return false;
    }
    uint32_t et = c.read<uint32_t>("an array element type");
    uint64_t n = c.read<uint64_t>("an array length");
    if (!c.ok())
      return false;
    if (et > MetaValue::Float64) {
      c.fail("unknown metadata array element type " + std::to_string(et));
      return false;
    }
    // Every element takes at least one byte: reject impossible lengths
    // before allocating.
    if (!c.need(n, "array elements"))
      return false;
    v.elementKind = MetaValue::Kind(et);
    v.array.resize(n);
    for (uint64_t k = 0; k < n && c.ok(); ++k)
      readValue(c, MetaValue::Kind(et), v.array[k], depth + 1);
    break;
  }
  }
  return c.ok();
}

} // namespace

bool MetaValue::isInteger() const {
  switch (kind) {
  case UInt8: case Int8: case UInt16: case Int16: case UInt32: case Int32:
  case UInt64: case Int64: case Bool:
    return true;
  default:
    return false;
  }
}

int64_t MetaValue::asInt() const {
  switch (kind) {
  case Int8: case Int16: case Int32: case Int64:
    return i;
  case Float32: case Float64:
    // Converting a NaN or out-of-range double is undefined: saturate.
    if (!(f == f))
      return 0;
    if (f >= 9.2e18)
      return INT64_MAX;
    if (f <= -9.2e18)
      return INT64_MIN;
    return int64_t(f);
  default:
    return int64_t(u);
  }
}

double MetaValue::asDouble() const {
  if (kind == Float32 || kind == Float64)
    return f;
  return double(asInt());
}

int64_t TensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

GGUFFile::~GGUFFile() {
  if (map_)
    munmap(map_, size_);
}

std::unique_ptr<GGUFFile> GGUFFile::open(const std::string &path,
                                         std::string &error) {
  auto fail = [&](const std::string &msg) {
    error = path + ": " + msg;
    return nullptr;
  };
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  std::unique_ptr<GGUFFile> file(new GGUFFile());
  file->path_ = path;
  file->size_ = size_t(st.st_size);
  if (file->size_ < 4) {
    ::close(fd);
    return fail("not a GGUF file (too short for the magic)");
  }
  void *map = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED)
    return fail(std::string("cannot map: ") + std::strerror(errno));
  file->map_ = map;
  if (!file->parse(static_cast<const uint8_t *>(map), error))
    return nullptr;
  return file;
}

void GGUFFile::releasePages(const TensorInfo &t) const {
  // Only this object's own read-only private mapping: MADV_DONTNEED on
  // memory a caller owns (fromBuffer) would zero it.
  if (!map_ || !t.data || t.byteSize == 0)
    return;
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t base = uintptr_t(map_), limit = base + size_;
  const uintptr_t from = uintptr_t(t.data), to = from + t.byteSize;
  if (from < base || to > limit)
    return;
  const uintptr_t begin = (from + page - 1) & ~(page - 1);
  const uintptr_t end = to & ~(page - 1);
  if (end > begin)
    (void)::madvise(reinterpret_cast<void *>(begin), end - begin,
                    MADV_DONTNEED);
}

std::unique_ptr<GGUFFile> GGUFFile::fromBuffer(const uint8_t *data,
                                               size_t size,
                                               const std::string &name,
                                               std::string &error) {
  std::unique_ptr<GGUFFile> file(new GGUFFile());
  file->path_ = name;
  file->size_ = size;
  if (size < 4) {
    error = name + ": not a GGUF file (too short for the magic)";
    return nullptr;
  }
  if (!file->parse(data, error))
    return nullptr;
  return file;
}

bool GGUFFile::parse(const uint8_t *base, std::string &error) {
  auto fail = [&](const std::string &msg) {
    error = path_ + ": " + msg;
    return false;
  };
  Cursor c(base, size_);

  if (std::memcmp(base, "GGUF", 4) != 0)
    return fail("not a GGUF file (bad magic)");
  c.read<uint32_t>("the magic");
  version_ = c.read<uint32_t>("the version");
  if (c.ok() && (version_ < 2 || version_ > 3))
    return fail("unsupported GGUF version " + std::to_string(version_) +
                " (supported: 2, 3)");
  uint64_t numTensors = c.read<uint64_t>("the tensor count");
  uint64_t numKV = c.read<uint64_t>("the metadata count");
  if (!c.ok())
    return fail(c.error());
  for (uint64_t k = 0; k < numKV && c.ok(); ++k) {
    std::string key = c.readString("a metadata key");
    uint32_t kind = c.read<uint32_t>("a metadata value type");
    MetaValue v;
    if (c.ok() && readValue(c, MetaValue::Kind(kind), v, 0))
      meta_[key] = std::move(v);
    else if (c.ok())
      c.fail("bad metadata value for key '" + key + "'");
  }
  if (!c.ok())
    return fail(c.error());

  uint64_t alignment = 32;
  if (const MetaValue *a = find("general.alignment")) {
    // 2^30 bounds the padding arithmetic below far from overflow.
    if (!a->isInteger() || a->asInt() <= 0 ||
        (a->asInt() & (a->asInt() - 1)) || a->asInt() > (int64_t(1) << 30))
      return fail("general.alignment must be a power of two up to 2^30");
    alignment = uint64_t(a->asInt());
  }

  // Tensor table. An entry takes at least 24 bytes (name length, rank,
  // type, offset): reject impossible counts before allocating.
  if (numTensors > (size_ - c.pos()) / 24)
    return fail("file is truncated: cannot read the tensor table (" +
                std::to_string(numTensors) + " tensors)");
  tensors_.resize(numTensors);
  for (uint64_t t = 0; t < numTensors && c.ok(); ++t) {
    TensorInfo &ti = tensors_[t];
    ti.name = c.readString("a tensor name");
    uint32_t nd = c.read<uint32_t>("a tensor rank");
    if (c.ok() && nd > 8)
      c.fail("tensor '" + ti.name + "' has rank " + std::to_string(nd) +
             " (at most 8)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < nd && c.ok(); ++d) {
      uint64_t dim = c.read<uint64_t>("a tensor dimension");
      if (!c.ok())
        break;
      // 2^40 elements in all keeps every byte count below 2^63.
      if (dim == 0 || dim > (uint64_t(1) << 40) ||
          elements > (uint64_t(1) << 40) / dim)
        c.fail("tensor '" + ti.name + "' has an invalid dimension " +
               std::to_string(dim) + " (a tensor holds at most 2^40 values)");
      elements *= dim;
      ti.dims.push_back(int64_t(dim));
    }
    ti.type = c.read<uint32_t>("a tensor type");
    ti.offset = c.read<uint64_t>("a tensor offset");
  }
  if (!c.ok())
    return fail(c.error());

  uint64_t dataStart = (c.pos() + alignment - 1) / alignment * alignment;
  for (size_t t = 0; t < tensors_.size(); ++t) {
    TensorInfo &ti = tensors_[t];
    const TypeTraits *traits = getTypeTraits(ti.type);
    if (!traits)
      return fail("tensor '" + ti.name + "' has unknown GGML type " +
                  std::to_string(ti.type));
    int64_t n = ti.numElements();
    if (n % traits->blockSize)
      return fail("tensor '" + ti.name + "' has " + std::to_string(n) +
                  " elements, not a multiple of the " + traits->name +
                  " block size " + std::to_string(traits->blockSize));
    ti.byteSize = uint64_t(n / traits->blockSize) * traits->typeSize;
    uint64_t begin = dataStart + ti.offset;
    if (begin < dataStart || begin > size_ || ti.byteSize > size_ - begin)
      return fail("file is truncated: tensor '" + ti.name + "' needs " +
                  std::to_string(ti.byteSize) + " bytes at offset " +
                  std::to_string(ti.offset) + " of the data section but the "
                  "file has " + std::to_string(size_) + " bytes");
    ti.data = base + begin;
    if (!tensorIndex_.emplace(ti.name, t).second)
      return fail("duplicate tensor name '" + ti.name + "'");
  }
  return true;
}

const MetaValue *GGUFFile::find(const std::string &key) const {
  auto it = meta_.find(key);
  return it == meta_.end() ? nullptr : &it->second;
}

const TensorInfo *GGUFFile::findTensor(const std::string &name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

bool GGUFFile::readAsF32(const TensorInfo &t, std::vector<float> &out,
                         std::string &error) const {
  const TypeTraits *traits = getTypeTraits(t.type);
  out.resize(t.numElements());
  if (!traits || !traits->canDequantize ||
      !dequantize(GGMLType(t.type), t.data, t.numElements(), out.data())) {
    error = path_ + ": tensor '" + t.name + "' has GGML type " +
            (traits ? traits->name : std::to_string(t.type)) +
            ", which onebit cannot dequantize (supported: F32, F16, BF16, "
            "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)";
    return false;
  }
  return true;
}

} // namespace onebit::gguf
