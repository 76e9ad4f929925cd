//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "onebit/Support/Npy.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace onebit {

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::F64:
    return "f64";
  case DType::I64:
    return "i64";
  case DType::I32:
    return "i32";
  case DType::I16:
    return "i16";
  case DType::I8:
    return "i8";
  case DType::Bool:
    return "bool";
  case DType::U8:
    return "ui8";
  case DType::U16:
    return "ui16";
  case DType::U32:
    return "ui32";
  case DType::U64:
    return "ui64";
  case DType::BF16:
    return "bf16";
  }
  return "?";
}

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F64:
  case DType::I64:
  case DType::U64:
    return 8;
  case DType::F32:
  case DType::I32:
  case DType::U32:
    return 4;
  case DType::F16:
  case DType::I16:
  case DType::U16:
  case DType::BF16:
    return 2;
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return 1;
  }
  return 0;
}

bool checkedByteSize(const std::vector<int64_t> &shape, DType t,
                     int64_t &bytes) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return false;
  return !__builtin_mul_overflow(n, int64_t(dtypeSize(t)), &bytes);
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static const char *descrOf(DType t) {
  switch (t) {
  case DType::F32:
    return "<f4";
  case DType::F16:
    return "<f2";
  case DType::F64:
    return "<f8";
  case DType::I64:
    return "<i8";
  case DType::I32:
    return "<i4";
  case DType::I16:
    return "<i2";
  case DType::I8:
    return "|i1";
  case DType::Bool:
    return "|b1";
  case DType::U8:
    return "|u1";
  case DType::U16:
    return "<u2";
  case DType::U32:
    return "<u4";
  case DType::U64:
    return "<u8";
  case DType::BF16:
    return "<V2";
  }
  return "";
}

/// The value of `key` in the header dict, as written ('...' or (...) or a
/// word), or "" when absent.
static std::string field(const std::string &h, const std::string &key) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos)
    return "";
  size_t c = h.find(':', k);
  if (c == std::string::npos)
    return "";
  size_t s = h.find_first_not_of(' ', c + 1);
  if (s == std::string::npos)
    return "";
  char open = h[s];
  char close = open == '\'' ? '\'' : open == '(' ? ')' : 0;
  if (close) {
    size_t e = h.find(close, s + 1);
    return e == std::string::npos ? "" : h.substr(s + 1, e - s - 1);
  }
  size_t e = h.find_first_of(",}", s);
  return h.substr(s, e - s);
}

bool readNpy(const std::string &path, HostTensor &out, std::string &error) {
  auto fail = [&](const std::string &m) {
    error = path + ": " + m;
    return false;
  };
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return fail("not a .npy file (bad magic)");
  uint32_t headerLen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    if (!f.read(reinterpret_cast<char *>(b), 2))
      return fail("truncated header");
    headerLen = b[0] | b[1] << 8;
  } else if (magic[6] == 2 || magic[6] == 3) {
    unsigned char b[4];
    if (!f.read(reinterpret_cast<char *>(b), 4))
      return fail("truncated header");
    headerLen = b[0] | b[1] << 8 | b[2] << 16 | uint32_t(b[3]) << 24;
  } else {
    return fail("unsupported .npy version " + std::to_string(magic[6]));
  }
  if (headerLen > (1u << 20))
    return fail("header too large");
  std::string h(headerLen, '\0');
  if (!f.read(h.data(), headerLen))
    return fail("truncated header");
  std::string descr = field(h, "descr"), fortran = field(h, "fortran_order");
  std::string shape = field(h, "shape");
  if (descr.empty() || fortran.empty() || h.find("'shape'") == std::string::npos)
    return fail("malformed header: " + h);
  if (fortran.find("True") != std::string::npos)
    return fail("Fortran-order arrays are not supported; save it C-ordered "
                "(numpy.ascontiguousarray)");
  // numpy writes single-byte types with '|' (no byte order); other writers
  // use '<'. Two-byte void is bfloat16 by ml_dtypes' convention.
  static const std::pair<const char *, DType> kinds[] = {
      {"<f4", DType::F32},  {"<f2", DType::F16}, {"<f8", DType::F64},
      {"<i8", DType::I64},  {"<i4", DType::I32}, {"<i2", DType::I16},
      {"|i1", DType::I8},   {"<i1", DType::I8},  {"|b1", DType::Bool},
      {"<b1", DType::Bool}, {"|u1", DType::U8},  {"<u1", DType::U8},
      {"<u2", DType::U16},  {"<u4", DType::U32}, {"<u8", DType::U64},
      {"<V2", DType::BF16}, {"|V2", DType::BF16}};
  bool found = false;
  for (auto &k : kinds)
    if (descr == k.first) {
      out.dtype = k.second;
      found = true;
    }
  if (!found)
    return fail("unsupported dtype '" + descr +
                "' (supported: float32, float16, float64, int64, int32, int16, "
                "int8, uint64, uint32, uint16, uint8, bool, and "
                "ml_dtypes.bfloat16 saved as '<V2')");
  out.shape.clear();
  std::stringstream ss(shape);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" ");
    if (a == std::string::npos)
      continue;
    errno = 0;
    char *end;
    long long v = std::strtoll(item.c_str() + a, &end, 10);
    if (end == item.c_str() + a ||
        item.find_first_not_of(" ", end - item.c_str()) != std::string::npos)
      return fail("malformed shape (" + shape + ")");
    if (v < 0)
      return fail("negative dimension in shape (" + shape + ")");
    if (errno == ERANGE)
      return fail("dimension out of range in shape (" + shape + ")");
    out.shape.push_back(v);
  }
  // The shape comes from the file: its size must be computed without
  // wrapping around, and match the data that is there, before anything is
  // allocated. A wrapped size would let a tiny file declare a huge tensor,
  // which compiled code with dynamic dimensions then reads out of bounds.
  int64_t bytes;
  if (!checkedByteSize(out.shape, out.dtype, bytes))
    return fail("shape (" + shape + ") of " + dtypeName(out.dtype) +
                " is too large: its byte size does not fit in 64 bits");
  auto mismatch = [&](int64_t held, bool more) {
    return fail("shape (" + shape + ") of " + dtypeName(out.dtype) + " needs " +
                std::to_string(bytes) + " bytes of data but the file holds " +
                (more ? "more" : std::to_string(held)) +
                (bytes > held ? " (truncated data)" : ""));
  };
  std::streamoff start = f.tellg();
  f.seekg(0, std::ios::end);
  std::streamoff end = f.tellg();
  if (start >= 0 && end >= start && f.seekg(start)) {
    if (bytes != int64_t(end - start))
      return mismatch(int64_t(end - start), /*more=*/false);
    out.data.assign(size_t(bytes), 0);
    if (bytes && !f.read(out.data.data(), bytes))
      return fail("read error");
    return true;
  }
  // Not seekable (a pipe): read in chunks, so that memory follows the data
  // that arrives rather than the size the header claims.
  f.clear();
  out.data.clear();
  constexpr int64_t kChunk = 1 << 20;
  while (int64_t(out.data.size()) < bytes && f) {
    size_t have = out.data.size();
    size_t want = size_t(std::min<int64_t>(kChunk, bytes - int64_t(have)));
    out.data.resize(have + want);
    f.read(out.data.data() + have, std::streamsize(want));
    out.data.resize(have + size_t(f.gcount()));
  }
  int64_t held = int64_t(out.data.size());
  bool more = held == bytes && f.peek() != std::char_traits<char>::eof();
  if (held != bytes || more) {
    out.data.clear();
    return mismatch(held, more);
  }
  return true;
}

bool writeNpy(const std::string &path, const HostTensor &t,
              std::string &error) {
  std::string shape;
  for (size_t i = 0; i < t.shape.size(); ++i)
    shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 || i + 1 < t.shape.size() ? "," : "");
  std::string h = std::string("{'descr': '") + descrOf(t.dtype) +
                  "', 'fortran_order': False, 'shape': (" + shape + "), }";
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) {
      error = path + ": cannot write: " + std::strerror(errno);
      return false;
    }
    f.write("\x93NUMPY\x01\x00", 8);
    unsigned char len[2] = {uint8_t(h.size() & 0xff), uint8_t(h.size() >> 8)};
    f.write(reinterpret_cast<char *>(len), 2);
    f.write(h.data(), h.size());
    f.write(t.data.data(), t.data.size());
    if (!f) {
      error = path + ": write failed";
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": cannot rename: " + std::strerror(errno);
    return false;
  }
  return true;
}

} // namespace onebit
