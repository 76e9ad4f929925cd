//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "onebit/Support/Npy.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace onebit {

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

/// The size of the preamble (magic, version, header length, header) whose
/// first bytes are `start` (at least 12, or the whole file if shorter), or an
/// error message.
static std::string preambleSize(std::string_view start, size_t &size) {
  if (start.size() < 8 || std::memcmp(start.data(), "\x93NUMPY", 6) != 0)
    return "not a .npy file (bad magic)";
  auto byte = [&](size_t i) { return uint32_t(uint8_t(start[i])); };
  uint32_t headerLen = 0;
  if (start[6] == 1) {
    if (start.size() < 10)
      return "truncated header";
    headerLen = byte(8) | byte(9) << 8;
    size = 10;
  } else if (start[6] == 2 || start[6] == 3) {
    if (start.size() < 12)
      return "truncated header";
    headerLen = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    size = 12;
  } else {
    return "unsupported .npy version " + std::to_string(start[6]);
  }
  if (headerLen > (1u << 20))
    return "header too large";
  size += headerLen;
  return "";
}

/// Parses the header dict of a whole preamble into out.dtype and out.shape,
/// and the data's byte size, computed without wrapping. `shapeText` is the
/// shape as written, for messages.
static std::string parseHeader(std::string_view preamble, size_t headerStart,
                               HostTensor &out, int64_t &bytes,
                               std::string &shapeText) {
  std::string h(preamble.substr(headerStart));
  std::string descr = field(h, "descr"), fortran = field(h, "fortran_order");
  std::string shape = field(h, "shape");
  shapeText = shape;
  if (descr.empty() || fortran.empty() || h.find("'shape'") == std::string::npos)
    return "malformed header: " + h;
  if (fortran.find("True") != std::string::npos)
    return "Fortran-order arrays are not supported; save it C-ordered "
           "(numpy.ascontiguousarray)";
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
    return "unsupported dtype '" + descr +
           "' (supported: float32, float16, float64, int64, int32, int16, "
           "int8, uint64, uint32, uint16, uint8, bool, and "
           "ml_dtypes.bfloat16 saved as '<V2')";
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
      return "malformed shape (" + shape + ")";
    if (v < 0)
      return "negative dimension in shape (" + shape + ")";
    if (errno == ERANGE)
      return "dimension out of range in shape (" + shape + ")";
    out.shape.push_back(v);
  }
  // The shape comes from the file: its size must be computed without
  // wrapping around, and match the data that is there, before anything is
  // allocated. A wrapped size would let a tiny file declare a huge tensor,
  // which compiled code with dynamic dimensions then reads out of bounds.
  if (!checkedByteSize(out.shape, out.dtype, bytes))
    return "shape (" + shape + ") of " + dtypeName(out.dtype) +
           " is too large: its byte size does not fit in 64 bits";
  return "";
}

/// The message for data that does not match the shape.
static std::string mismatch(const std::string &shape, DType t, int64_t bytes,
                            int64_t held, bool more) {
  return "shape (" + shape + ") of " + dtypeName(t) + " needs " +
         std::to_string(bytes) + " bytes of data but the file holds " +
         (more ? "more" : std::to_string(held)) +
         (bytes > held ? " (truncated data)" : "");
}

bool parseNpy(std::string_view file, const std::string &name, HostTensor &out,
              std::string &error) {
  auto fail = [&](const std::string &m) {
    error = name + ": " + m;
    return false;
  };
  size_t size = 0;
  std::string err = preambleSize(file.substr(0, 12), size);
  if (!err.empty())
    return fail(err);
  if (file.size() < size)
    return fail("truncated header");
  int64_t bytes;
  std::string shape;
  err = parseHeader(file.substr(0, size), file[6] == 1 ? 10 : 12, out, bytes,
                    shape);
  if (!err.empty())
    return fail(err);
  int64_t held = int64_t(file.size() - size);
  if (held != bytes)
    return fail(mismatch(shape, out.dtype, bytes, held, /*more=*/false));
  out.data.assign(file.data() + size, file.data() + file.size());
  return true;
}

bool readNpy(const std::string &path, HostTensor &out, std::string &error) {
  auto fail = [&](const std::string &m) {
    error = path + ": " + m;
    return false;
  };
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  std::string preamble(12, '\0');
  f.read(preamble.data(), 12);
  preamble.resize(size_t(f.gcount()));
  size_t size = 0;
  std::string err = preambleSize(preamble, size);
  if (!err.empty())
    return fail(err);
  // Version 1's preamble is 10 bytes: two of the 12 read belong to the
  // header (a header is at least one byte, its closing newline).
  size_t headerStart = preamble[6] == 1 ? 10 : 12;
  if (size < preamble.size())
    return fail("malformed header (" + std::to_string(size - headerStart) +
                " bytes)");
  size_t have = preamble.size();
  preamble.resize(size);
  if (!f.read(preamble.data() + have, std::streamsize(size - have)))
    return fail("truncated header");
  int64_t bytes;
  std::string shape;
  err = parseHeader(preamble, headerStart, out, bytes, shape);
  if (!err.empty())
    return fail(err);
  std::streamoff start = f.tellg();
  f.seekg(0, std::ios::end);
  std::streamoff end = f.tellg();
  if (start >= 0 && end >= start && f.seekg(start)) {
    if (bytes != int64_t(end - start))
      return fail(
          mismatch(shape, out.dtype, bytes, int64_t(end - start), false));
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
    return fail(mismatch(shape, out.dtype, bytes, held, more));
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
