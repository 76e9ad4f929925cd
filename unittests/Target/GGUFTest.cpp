//===- GGUFTest.cpp - GGUF reader and dequantizer tests -------------------===//

#include "onebit/Target/GGUF/GGUFFile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace onebit::gguf;

namespace {

#include "GGUFDequantReference.inc"

std::vector<uint8_t> fromHex(const char *hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0, n = std::strlen(hex); i + 1 < n; i += 2)
    out.push_back(uint8_t(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  return out;
}

// Every dequantizer against the gguf package's decoding of the same bytes.
TEST(GGUFDequantize, MatchesGgufPackage) {
  for (const DequantCase &c : kDequantCases) {
    const TypeTraits *t = getTypeTraits(uint32_t(c.type));
    ASSERT_NE(t, nullptr) << c.type;
    std::vector<uint8_t> bytes = fromHex(c.hex);
    ASSERT_EQ(int64_t(bytes.size()), c.count / t->blockSize * t->typeSize)
        << t->name;
    std::vector<float> out(c.count);
    ASSERT_TRUE(dequantize(GGMLType(c.type), bytes.data(), c.count,
                           out.data()))
        << t->name;
    for (int i = 0; i < c.count; ++i)
      ASSERT_NEAR(out[i], c.expected[i], 1e-6f * std::fabs(c.expected[i]) +
                                             1e-7f)
          << t->name << " value " << i;
  }
}

TEST(GGUFDequantize, RejectsUnsupported) {
  float out[256];
  uint8_t data[292] = {0};
  EXPECT_FALSE(dequantize(GGMLType::Q2_K, data, 256, out));
  EXPECT_FALSE(dequantize(GGMLType::Q4_0, data, 31, out)); // partial block
  EXPECT_EQ(getTypeTraits(4), nullptr);
  EXPECT_EQ(getTypeTraits(999), nullptr);
}

/// Writes a small GGUF v3 file by hand, as the format describes it.
struct Writer {
  std::vector<uint8_t> b;
  template <typename T> void put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  void str(const std::string &s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
};

std::string writeTemp(const std::vector<uint8_t> &bytes, const char *name) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  return path;
}

std::vector<uint8_t> sampleFile(uint32_t version = 3) {
  Writer w;
  w.b = {'G', 'G', 'U', 'F'};
  w.put<uint32_t>(version);
  w.put<uint64_t>(2); // tensors
  w.put<uint64_t>(3); // metadata
  w.str("general.architecture");
  w.put<uint32_t>(MetaValue::String);
  w.str("llama");
  w.str("llama.block_count");
  w.put<uint32_t>(MetaValue::UInt32);
  w.put<uint32_t>(30);
  w.str("tokenizer.ggml.tokens");
  w.put<uint32_t>(MetaValue::Array);
  w.put<uint32_t>(MetaValue::String);
  w.put<uint64_t>(2);
  w.str("a");
  w.str("<s>");
  // tensor 0: f32 [3, 2] (3 columns, 2 rows)
  w.str("t.f32");
  w.put<uint32_t>(2);
  w.put<uint64_t>(3);
  w.put<uint64_t>(2);
  w.put<uint32_t>(0);
  w.put<uint64_t>(0);
  // tensor 1: f16 [4] at offset 32
  w.str("t.f16");
  w.put<uint32_t>(1);
  w.put<uint64_t>(4);
  w.put<uint32_t>(1);
  w.put<uint64_t>(32);
  while (w.b.size() % 32)
    w.b.push_back(0);
  for (float v : {1.f, 2.f, 3.f, 4.f, 5.f, 6.f})
    w.put<float>(v);
  while (w.b.size() % 32)
    w.b.push_back(0);
  for (uint16_t h : {0x3c00, 0xc000, 0x3800, 0x0000}) // 1, -2, 0.5, 0
    w.put<uint16_t>(h);
  return w.b;
}

TEST(GGUFFile, ParsesHeaderMetadataAndTensors) {
  std::string err;
  auto f = GGUFFile::open(writeTemp(sampleFile(), "ok.gguf"), err);
  ASSERT_TRUE(f) << err;
  EXPECT_EQ(f->version(), 3u);
  ASSERT_TRUE(f->find("general.architecture"));
  EXPECT_EQ(f->find("general.architecture")->s, "llama");
  EXPECT_EQ(f->find("llama.block_count")->asInt(), 30);
  ASSERT_EQ(f->find("tokenizer.ggml.tokens")->array.size(), 2u);
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->array[1].s, "<s>");
  const TensorInfo *t = f->findTensor("t.f32");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->dims, (std::vector<int64_t>{3, 2}));
  std::vector<float> v;
  ASSERT_TRUE(f->readAsF32(*t, v, err)) << err;
  EXPECT_EQ(v, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(f->readAsF32(*f->findTensor("t.f16"), v, err)) << err;
  EXPECT_EQ(v, (std::vector<float>{1, -2, 0.5, 0}));
}

TEST(GGUFFile, ErrorsNameTheProblem) {
  std::string err;
  EXPECT_FALSE(GGUFFile::open("/nonexistent/model.gguf", err));
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;

  std::vector<uint8_t> bad = sampleFile();
  bad[0] = 'X';
  EXPECT_FALSE(GGUFFile::open(writeTemp(bad, "magic.gguf"), err));
  EXPECT_NE(err.find("bad magic"), std::string::npos) << err;

  EXPECT_FALSE(GGUFFile::open(writeTemp(sampleFile(1), "v1.gguf"), err));
  EXPECT_NE(err.find("unsupported GGUF version 1"), std::string::npos) << err;

  // Every truncation point fails cleanly with a message.
  std::vector<uint8_t> full = sampleFile();
  for (size_t n = 4; n < full.size(); n += 7) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    EXPECT_FALSE(GGUFFile::open(writeTemp(cut, "cut.gguf"), err)) << n;
    EXPECT_NE(err.find("truncated"), std::string::npos) << n << ": " << err;
  }
}

} // namespace

namespace {

/// A GGUF file with one f32 tensor [n] of the values 0, 1, 2, ...
std::vector<uint8_t> oneTensorFile(uint64_t n) {
  Writer w;
  w.b = {'G', 'G', 'U', 'F'};
  w.put<uint32_t>(3);
  w.put<uint64_t>(1); // tensors
  w.put<uint64_t>(0); // metadata
  w.str("t.big");
  w.put<uint32_t>(1);
  w.put<uint64_t>(n);
  w.put<uint32_t>(0);
  w.put<uint64_t>(0);
  while (w.b.size() % 32)
    w.b.push_back(0);
  for (uint64_t i = 0; i < n; ++i)
    w.put<float>(float(i));
  return w.b;
}

/// The resident kB of the mapping that holds `p` (/proc/self/smaps), or -1.
long residentKiB(const void *p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long lo, hi;
    char dash;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = uintptr_t(p) >= lo && uintptr_t(p) < hi;
      continue;
    }
    long kb;
    if (inside && std::sscanf(line.c_str(), "Rss: %ld kB", &kb) == 1)
      return kb;
  }
  return -1;
}

} // namespace

// releasePages gives a read tensor's pages of the mapped file back: the
// mapping's resident set falls from the tensor's 4 MiB to at most the
// pages it shares with the header, and reading the tensor again reloads
// the same values from the file.
TEST(GGUFFile, ReleasesTheMappedPagesOfATensor) {
  const uint64_t n = 1 << 20;
  std::string err;
  auto f = GGUFFile::open(writeTemp(oneTensorFile(n), "big.gguf"), err);
  ASSERT_TRUE(f) << err;
  const TensorInfo *t = f->findTensor("t.big");
  ASSERT_TRUE(t);
  std::vector<float> v;
  ASSERT_TRUE(f->readAsF32(*t, v, err)) << err;
  long before = residentKiB(t->data);
  if (before < 0)
    GTEST_SKIP() << "no /proc/self/smaps";
  EXPECT_GE(before, 4000);
  f->releasePages(*t);
  EXPECT_LE(residentKiB(t->data), 8);
  std::vector<float> again;
  ASSERT_TRUE(f->readAsF32(*t, again, err)) << err;
  EXPECT_EQ(again, v);
  EXPECT_EQ(again[n - 1], float(n - 1));
}

// A file parsed from the caller's buffer is not the reader's mapping: its
// memory is left alone.
TEST(GGUFFile, LeavesACallersBufferAlone) {
  std::vector<uint8_t> bytes = oneTensorFile(4096);
  std::string err;
  auto f = GGUFFile::fromBuffer(bytes.data(), bytes.size(), "buf", err);
  ASSERT_TRUE(f) << err;
  const TensorInfo *t = f->findTensor("t.big");
  ASSERT_TRUE(t);
  f->releasePages(*t);
  std::vector<float> v;
  ASSERT_TRUE(f->readAsF32(*t, v, err)) << err;
  EXPECT_EQ(v[4095], 4095.0f);
}
