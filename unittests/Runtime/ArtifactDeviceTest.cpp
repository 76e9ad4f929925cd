//===- ArtifactDeviceTest.cpp - a cuda artifact's device section ----------===//
//
// The metadata of a cuda artifact (docs/artifacts.md): the chip names the
// loader understands, the compute-capability rule it applies before any
// code runs (the GPU of this project's machines is not here, so the rule is
// tested on its own), the PTX ISA read from the features, and the device
// section and per-entry result memory surviving an encode/decode round
// trip, with inconsistent combinations refused.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/ArtifactFormat.h"

#include <gtest/gtest.h>

namespace onebit::artifact {
namespace {

TEST(ArtifactDevice, ParsesChipNames) {
  struct Case {
    const char *chip;
    bool ok;
    int major, minor;
  } cases[] = {
      {"sm_80", true, 8, 0},  {"sm_86", true, 8, 6},   {"sm_90", true, 9, 0},
      {"sm_90a", true, 9, 0}, {"sm_100", true, 10, 0}, {"sm_120", true, 12, 0},
      {"sm_8", false, 0, 0},  {"sm_", false, 0, 0},    {"gfx90a", false, 0, 0},
      {"sm_8x", false, 0, 0}, {"", false, 0, 0},       {"sm_1000", false, 0, 0},
      {"sm_05", false, 0, 0},
  };
  for (const Case &c : cases) {
    int major = -1, minor = -1;
    EXPECT_EQ(parseCudaChip(c.chip, major, minor), c.ok) << c.chip;
    if (c.ok) {
      EXPECT_EQ(major, c.major) << c.chip;
      EXPECT_EQ(minor, c.minor) << c.chip;
    }
  }
}

TEST(ArtifactDevice, RefusesOlderDevicesNamingBoth) {
  // That chip and newer ones run it (the driver JIT-compiles the PTX).
  EXPECT_EQ(checkCudaDevice("sm_80", 8, 0, "A100"), "");
  EXPECT_EQ(checkCudaDevice("sm_80", 8, 6, "A10"), "");
  EXPECT_EQ(checkCudaDevice("sm_80", 9, 0, "H100"), "");
  EXPECT_EQ(checkCudaDevice("sm_90", 10, 0, "B200"), "");
  EXPECT_EQ(checkCudaDevice("sm_86", 8, 6, ""), "");
  EXPECT_EQ(checkCudaDevice("sm_90", 8, 0, "NVIDIA A100-SXM4-80GB"),
            "compiled for sm_90 (compute capability 9.0), but the GPU "
            "'NVIDIA A100-SXM4-80GB' has compute capability 8.0; recompile "
            "with --chip sm_80");
  EXPECT_EQ(checkCudaDevice("sm_86", 8, 0, ""),
            "compiled for sm_86 (compute capability 8.6), but the GPU has "
            "compute capability 8.0; recompile with --chip sm_80");
  EXPECT_NE(checkCudaDevice("sm_80", 7, 5, "T4"), "");
  EXPECT_NE(checkCudaDevice("bogus", 9, 0, "H100"), "");
}

TEST(ArtifactDevice, PtxIsaFromFeatures) {
  EXPECT_EQ(ptxIsaOf("+ptx80"), 80u);
  EXPECT_EQ(ptxIsaOf("+ptx78,+sm_80"), 78u);
  EXPECT_EQ(ptxIsaOf("+ptx60,+ptx85"), 85u);
  EXPECT_EQ(ptxIsaOf(""), 0u);
  EXPECT_EQ(ptxIsaOf("+ptx"), 0u);
  EXPECT_EQ(ptxIsaOf("+sm80"), 0u);
}

TEST(ArtifactDevice, DriverForPtxIsa) {
  EXPECT_EQ(minCudaDriverForPtx(60), 9000);
  EXPECT_EQ(minCudaDriverForPtx(63), 10000);
  EXPECT_EQ(minCudaDriverForPtx(65), 10020);
  EXPECT_EQ(minCudaDriverForPtx(70), 11000);
  EXPECT_EQ(minCudaDriverForPtx(78), 11080);
  EXPECT_EQ(minCudaDriverForPtx(80), 12000);
  EXPECT_EQ(minCudaDriverForPtx(85), 12050);
  EXPECT_EQ(minCudaDriverForPtx(86), 12070);
  EXPECT_EQ(minCudaDriverForPtx(88), 12090);
  EXPECT_EQ(minCudaDriverForPtx(90), 13000);
  EXPECT_EQ(minCudaDriverForPtx(43), 0);
  EXPECT_EQ(checkCudaDriver(80, 12000), "");
  EXPECT_EQ(checkCudaDriver(80, 12080), "");
  EXPECT_EQ(checkCudaDriver(80, 13000), "");
  EXPECT_EQ(checkCudaDriver(43, 9000), "");
  EXPECT_EQ(checkCudaDriver(80, 11040),
            "its kernels are PTX ISA 8.0, which needs a CUDA 12.0 driver, but "
            "this driver is CUDA 11.4; recompile with an older --gpu-features "
            "(+ptx80 now) or update the driver");
}

Metadata oneEntry(const std::string &target) {
  Metadata m;
  m.producer = "test";
  m.target = target;
  m.targetCpu = "x86-64";
  Executable::Entry e;
  e.name = "main";
  TensorSignature x, y;
  x.dtype = y.dtype = DType::F32;
  x.shape = y.shape = {2, 3};
  x.name = "x";
  y.name = "y";
  e.inputs.push_back(x);
  e.results.push_back(y);
  m.entries.push_back(e);
  m.symbols.push_back("_mlir_main");
  return m;
}

TEST(ArtifactDevice, DeviceSectionRoundTrips) {
  Metadata m = oneEntry("cuda");
  m.gpuChip = "sm_90";
  m.gpuFeatures = "+ptx80";
  m.ptxIsa = 80;
  m.resultMemory = {ResultMemory::CudaManaged};
  Metadata back;
  std::string error;
  ASSERT_TRUE(decodeMetadata(encodeMetadata(m), back, error)) << error;
  EXPECT_EQ(back.target, "cuda");
  EXPECT_EQ(back.gpuChip, "sm_90");
  EXPECT_EQ(back.gpuFeatures, "+ptx80");
  EXPECT_EQ(back.ptxIsa, 80u);
  ASSERT_EQ(back.resultMemory.size(), 1u);
  EXPECT_EQ(back.resultMemory[0], ResultMemory::CudaManaged);

  Metadata cpu = oneEntry("cpu");
  cpu.resultMemory = {ResultMemory::Host};
  ASSERT_TRUE(decodeMetadata(encodeMetadata(cpu), back, error)) << error;
  EXPECT_EQ(back.target, "cpu");
  EXPECT_EQ(back.gpuChip, "");
  EXPECT_EQ(back.resultMemory[0], ResultMemory::Host);
}

TEST(ArtifactDevice, RefusesInconsistentDeviceSections) {
  auto refused = [](const Metadata &m, const std::string &why) {
    Metadata back;
    std::string error;
    EXPECT_FALSE(decodeMetadata(encodeMetadata(m), back, error));
    EXPECT_NE(error.find(why), std::string::npos) << error;
  };
  Metadata m = oneEntry("cuda");
  m.gpuChip = "sm_8";
  m.ptxIsa = 80;
  refused(m, "the CUDA chip 'sm_8' is not a name like sm_80");
  m.gpuChip = "sm_80";
  m.ptxIsa = 0;
  refused(m, "a cuda artifact without its PTX ISA version");
  Metadata cpu = oneEntry("cpu");
  cpu.gpuChip = "sm_80";
  refused(cpu, "a cpu artifact has a device section");
  cpu = oneEntry("cpu");
  cpu.resultMemory = {ResultMemory::CudaManaged};
  refused(cpu, "a cpu artifact's results in device memory");
  Metadata tpu = oneEntry("tpu");
  refused(tpu, "the target 'tpu' is neither cpu nor cuda");
  // An unknown result memory kind: the entry's last byte, before the
  // parameter count (8 bytes) at the end.
  Metadata k = oneEntry("cpu");
  std::string bytes = encodeMetadata(k);
  bytes[bytes.size() - 9] = 7;
  Metadata back;
  std::string error;
  EXPECT_FALSE(decodeMetadata(bytes, back, error));
  EXPECT_NE(error.find("result memory kind 7 is unknown"), std::string::npos)
      << error;
}

} // namespace
} // namespace onebit::artifact
