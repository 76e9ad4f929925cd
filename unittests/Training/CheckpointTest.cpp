//===- CheckpointTest.cpp - training checkpoint reader --------------------===//
//
// Round trips, and hostile checkpoints: every count and size read from the
// file is checked before anything is allocated.
//
//===----------------------------------------------------------------------===//

#include "onebit/Training/Checkpoint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

using namespace onebit;

namespace {

void put64(std::string &s, int64_t v) {
  s.append(reinterpret_cast<const char *>(&v), 8);
}

std::string header(int64_t count) {
  std::string s = "ONEBITCK";
  put64(s, 1);  // version
  put64(s, 42); // step
  put64(s, count);
  return s;
}

/// One tensor record; `bytes` says how many bytes it claims, `data` how many
/// follow.
std::string record(const std::string &name, int64_t dtype,
                   std::vector<int64_t> shape, int64_t bytes, size_t data) {
  std::string s;
  put64(s, int64_t(name.size()));
  s += name;
  put64(s, dtype);
  put64(s, int64_t(shape.size()));
  for (int64_t d : shape)
    put64(s, d);
  put64(s, bytes);
  s.append(data, '\x01');
  return s;
}

std::string parseError(const std::string &bytes) {
  Checkpoint c;
  std::string error;
  EXPECT_FALSE(parseCheckpoint(bytes, "bad.ckpt", c, error));
  return error;
}

TEST(Checkpoint, RoundTrip) {
  Checkpoint c;
  c.step = 7;
  HostTensor w;
  w.shape = {2, 3};
  w.data.resize(24);
  for (size_t i = 0; i < w.data.size(); ++i)
    w.data[i] = char(i);
  HostTensor s;
  s.dtype = DType::I64;
  s.data.resize(8, '\x05');
  c.names = {"w", "s"};
  c.tensors = {w, s};
  char dir[] = "/tmp/onebit-ckpt-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/checkpoint.bin", error;
  ASSERT_TRUE(writeCheckpoint(path, c, error)) << error;
  Checkpoint back;
  ASSERT_TRUE(readCheckpoint(path, back, error)) << error;
  EXPECT_EQ(back.step, 7);
  EXPECT_EQ(back.names, c.names);
  ASSERT_EQ(back.tensors.size(), 2u);
  EXPECT_EQ(back.tensors[0].shape, w.shape);
  EXPECT_EQ(back.tensors[0].data, w.data);
  EXPECT_EQ(back.tensors[1].dtype, DType::I64);
  EXPECT_TRUE(back.tensors[1].shape.empty());
  std::remove(path.c_str());
  rmdir(dir);
}

TEST(Checkpoint, RefusesHostileSizes) {
  // Not a checkpoint at all.
  EXPECT_NE(parseError("ONEBITCX").find("is not a onebit checkpoint"),
            std::string::npos);
  // 2^60 tensors in a 32-byte file: refused before reserving anything.
  EXPECT_NE(parseError(header(int64_t(1) << 60)).find("truncated"),
            std::string::npos);
  // A shape whose byte count wraps to 0 in 64 bits.
  EXPECT_NE(parseError(header(1) + record("w", 0, {int64_t(1) << 32,
                                                   int64_t(1) << 30},
                                          0, 0))
                .find("tensor 'w' has an invalid shape"),
            std::string::npos);
  // A negative dim.
  EXPECT_NE(parseError(header(1) + record("w", 0, {-2, -2}, 16, 16))
                .find("invalid shape"),
            std::string::npos);
  // 2^40 bytes claimed, consistent with the shape, 16 present.
  EXPECT_NE(parseError(header(1) + record("w", 0, {int64_t(1) << 38}, int64_t(1) << 40, 16))
                .find("truncated"),
            std::string::npos);
  // A dtype outside the enum.
  EXPECT_NE(parseError(header(1) + record("w", 99, {2}, 8, 8))
                .find("unknown dtype 99"),
            std::string::npos);
  // A byte count that does not match the shape.
  EXPECT_NE(parseError(header(1) + record("w", 0, {2}, 4, 4))
                .find("inconsistent size"),
            std::string::npos);
}

} // namespace
