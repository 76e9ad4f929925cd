//===- NpyTest.cpp - tests of the .npy reader and writer ------------------===//

#include "onebit/Support/Npy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace onebit;

namespace {

/// A file in the test's temporary directory, removed at the end.
struct TempFile {
  explicit TempFile(const std::string &name)
      : path(::testing::TempDir() + "npytest-" + std::to_string(::getpid()) +
             "-" + name) {}
  ~TempFile() { std::remove(path.c_str()); }
  std::string path;
};

/// Writes a version 1.0 .npy with header dict `dict` and `dataBytes` bytes.
void writeRaw(const std::string &path, const std::string &dict,
              size_t dataBytes) {
  std::string h = dict;
  h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {char(h.size() & 0xff), char(h.size() >> 8)};
  f.write(len, 2);
  f.write(h.data(), h.size());
  std::string data(dataBytes, '\x01');
  f.write(data.data(), data.size());
}

std::string readError(const std::string &dict, size_t dataBytes) {
  TempFile f("raw.npy");
  writeRaw(f.path, dict, dataBytes);
  HostTensor t;
  std::string error;
  EXPECT_FALSE(readNpy(f.path, t, error));
  // Nothing was allocated for a refused shape.
  EXPECT_TRUE(t.data.empty());
  return error;
}

TEST(NpyTest, CheckedByteSize) {
  int64_t bytes;
  EXPECT_TRUE(checkedByteSize({2, 3}, DType::F32, bytes));
  EXPECT_EQ(bytes, 24);
  EXPECT_TRUE(checkedByteSize({}, DType::F64, bytes));
  EXPECT_EQ(bytes, 8);
  EXPECT_TRUE(checkedByteSize({0, INT64_MAX}, DType::U64, bytes));
  EXPECT_EQ(bytes, 0);
  // 2^80 elements wrap to 0 in 64 bits; 2^65 too.
  EXPECT_FALSE(
      checkedByteSize({int64_t(1) << 40, int64_t(1) << 40}, DType::F32, bytes));
  EXPECT_FALSE(checkedByteSize({int64_t(1) << 62, 8}, DType::F32, bytes));
  // The count fits, the bytes do not.
  EXPECT_FALSE(checkedByteSize({int64_t(1) << 61}, DType::F64, bytes));
  EXPECT_FALSE(checkedByteSize({-1, 4}, DType::F32, bytes));
}

TEST(NpyTest, OverflowingShapesAreRefused) {
  EXPECT_NE(readError("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(1099511627776, 1099511627776), }",
                      64)
                .find("shape (1099511627776, 1099511627776) of f32 is too "
                      "large"),
            std::string::npos);
  EXPECT_NE(readError("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(4611686018427387904, 8), }",
                      64)
                .find("too large"),
            std::string::npos);
  EXPECT_NE(readError("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(99999999999999999999, 1), }",
                      64)
                .find("dimension out of range"),
            std::string::npos);
}

TEST(NpyTest, ShapeMustMatchData) {
  EXPECT_NE(readError("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(4, 5), }",
                      64)
                .find("needs 80 bytes of data but the file holds 64"),
            std::string::npos);
  EXPECT_NE(readError("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(2, 2), }",
                      64)
                .find("needs 16 bytes of data but the file holds 64"),
            std::string::npos);
}

TEST(NpyTest, EveryDTypeRoundTrips) {
  for (int i = 0; i < kNumDTypes; ++i) {
    DType d = DType(i);
    HostTensor t;
    t.dtype = d;
    t.shape = {2, 3};
    t.data.resize(6 * dtypeSize(d));
    for (size_t k = 0; k < t.data.size(); ++k)
      t.data[k] = char(k * 37 + i);
    TempFile f(std::string("rt-") + dtypeName(d) + ".npy");
    std::string error;
    ASSERT_TRUE(writeNpy(f.path, t, error)) << error;
    HostTensor back;
    ASSERT_TRUE(readNpy(f.path, back, error)) << error;
    EXPECT_EQ(back.dtype, d) << dtypeName(d);
    EXPECT_EQ(back.shape, t.shape);
    EXPECT_EQ(back.data, t.data);
  }
}

TEST(NpyTest, NumpyDescrs) {
  // What numpy writes for uint8 (not bool) and ml_dtypes.bfloat16 ('<V2').
  struct {
    const char *descr;
    DType dtype;
  } cases[] = {{"|u1", DType::U8},   {"<u2", DType::U16},  {"<u4", DType::U32},
               {"<u8", DType::U64},  {"|b1", DType::Bool}, {"|i1", DType::I8},
               {"<V2", DType::BF16}, {"|V2", DType::BF16}};
  for (auto &c : cases) {
    TempFile f("descr.npy");
    writeRaw(f.path,
             std::string("{'descr': '") + c.descr +
                 "', 'fortran_order': False, 'shape': (3,), }",
             3 * dtypeSize(c.dtype));
    HostTensor t;
    std::string error;
    ASSERT_TRUE(readNpy(f.path, t, error)) << c.descr << ": " << error;
    EXPECT_EQ(t.dtype, c.dtype) << c.descr;
  }
}

} // namespace
