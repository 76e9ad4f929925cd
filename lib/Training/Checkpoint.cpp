//===- Checkpoint.cpp - training checkpoints ------------------------------===//
//
// Format, every integer a little-endian int64: "ONEBITCK", version 1, step,
// tensor count, then per tensor: name length, name bytes, dtype (onebit's
// DType), rank, dims, byte count, bytes.
//
//===----------------------------------------------------------------------===//

#include "onebit/Training/Checkpoint.h"

#include "llvm/Support/MemoryBuffer.h"

#include <cstdio>
#include <cstring>
#include <fstream>

namespace onebit {

bool writeCheckpoint(const std::string &path, const Checkpoint &c,
                     std::string &error) {
  CheckpointView view;
  view.step = c.step;
  view.names = c.names;
  for (const HostTensor &t : c.tensors)
    view.tensors.push_back(&t);
  return writeCheckpoint(path, view, error);
}

bool writeCheckpoint(const std::string &path, const CheckpointView &c,
                     std::string &error) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
    if (!os) {
      error = "cannot write " + tmp;
      return false;
    }
    auto put = [&](const void *p, size_t n) {
      os.write(static_cast<const char *>(p), std::streamsize(n));
    };
    auto put64 = [&](int64_t v) { put(&v, 8); };
    put("ONEBITCK", 8);
    put64(1);
    put64(c.step);
    put64(int64_t(c.tensors.size()));
    for (size_t i = 0; i < c.tensors.size(); ++i) {
      const HostTensor &t = *c.tensors[i];
      put64(int64_t(c.names[i].size()));
      put(c.names[i].data(), c.names[i].size());
      put64(int64_t(t.dtype));
      put64(int64_t(t.shape.size()));
      for (int64_t d : t.shape)
        put64(d);
      put64(int64_t(t.data.size()));
      put(t.data.data(), t.data.size());
    }
    os.flush();
    if (!os) {
      error = "cannot write " + tmp + " (disk full?)";
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + " to " + path;
    return false;
  }
  return true;
}

bool readCheckpoint(const std::string &path, Checkpoint &c,
                    std::string &error) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf) {
    error = "no checkpoint at " + path;
    return false;
  }
  llvm::StringRef bytes = (*buf)->getBuffer();
  return parseCheckpoint(std::string_view(bytes.data(), bytes.size()), path, c,
                         error);
}

bool parseCheckpoint(std::string_view bytes, const std::string &name,
                     Checkpoint &c, std::string &error) {
  size_t pos = 0;
  auto get = [&](void *p, size_t n) {
    if (n > bytes.size() - pos)
      return false;
    std::memcpy(p, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  auto get64 = [&](int64_t &out) { return get(&out, 8); };
  auto fail = [&](const std::string &msg) {
    error = name + ": " + msg;
    return false;
  };
  char magic[8];
  int64_t version;
  if (!get(magic, 8) || std::memcmp(magic, "ONEBITCK", 8) != 0 ||
      !get64(version) || version != 1) {
    error = name + " is not a onebit checkpoint";
    return false;
  }
  int64_t n;
  // A tensor's record takes at least 32 bytes.
  if (!get64(c.step) || !get64(n) || n < 0 ||
      uint64_t(n) > (bytes.size() - pos) / 32)
    return fail("truncated checkpoint header");
  for (int64_t i = 0; i < n; ++i) {
    int64_t len, dt, rank, size;
    if (!get64(len) || len < 0 || len > 4096)
      return fail("truncated checkpoint");
    std::string tensorName(size_t(len), '\0');
    HostTensor t;
    if (!get(tensorName.data(), size_t(len)) || !get64(dt) || !get64(rank) ||
        rank < 0 || rank > 16)
      return fail("truncated checkpoint");
    // DType values outside the enum have no element size.
    if (dt < 0 || dt > 255 || dtypeSize(DType(dt)) == 0)
      return fail("tensor '" + tensorName + "' has unknown dtype " +
                  std::to_string(dt));
    t.dtype = DType(dt);
    t.shape.resize(size_t(rank));
    for (int64_t &d : t.shape)
      if (!get64(d))
        return fail("truncated checkpoint");
    int64_t expected;
    if (!checkedByteSize(t.shape, t.dtype, expected))
      return fail("tensor '" + tensorName + "' has an invalid shape");
    if (!get64(size) || size != expected)
      return fail("tensor '" + tensorName + "' has an inconsistent size");
    if (uint64_t(size) > bytes.size() - pos)
      return fail("truncated checkpoint");
    t.data.assign(bytes.data() + pos, bytes.data() + pos + size);
    pos += size_t(size);
    c.names.push_back(std::move(tensorName));
    c.tensors.push_back(std::move(t));
  }
  return true;
}

} // namespace onebit
