//===- CommunicatorTest.cpp - the backends on one rank --------------------===//
//
// Each test runs in its own process (gtest_discover_tests), so MPI is
// initialised once per process. Runs of several ranks are tested under
// mpirun by test/Training/train-data-parallel*.test.
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

#include "gtest/gtest.h"

#include <vector>

using namespace onebit;

namespace {

/// One rank's collectives are the identity (all-gather: a copy).
void expectIdentity(Communicator &c) {
  EXPECT_EQ(c.rank(), 0);
  ASSERT_EQ(c.size(), 1);
  std::string error;
  std::vector<float> x = {1.5f, -2.0f, 3.25f};
  ASSERT_TRUE(c.allReduceSum(x.data(), x.size(), "x", error)) << error;
  EXPECT_EQ(x, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  int64_t v = 42;
  ASSERT_TRUE(c.broadcast(&v, sizeof(v), 0, "v", error)) << error;
  EXPECT_EQ(v, 42);
  int32_t in = 7, out = 0;
  ASSERT_TRUE(c.allGather(&in, sizeof(in), &out, "in", error)) << error;
  EXPECT_EQ(out, 7);
  EXPECT_GE(c.takeCommSeconds(), 0.0);
  EXPECT_EQ(c.takeCommSeconds(), 0.0);
}

TEST(Communicator, MpiAloneIsOneRank) {
  std::string error;
  std::unique_ptr<Communicator> c =
      createMpiCommunicator(nullptr, nullptr, error);
  if (!mpiAvailable()) {
    ASSERT_FALSE(c);
    EXPECT_NE(error.find("libopenmpi-dev"), std::string::npos) << error;
    return;
  }
  ASSERT_TRUE(c) << error;
  EXPECT_STREQ(c->backend(), "mpi");
  c->setTimeoutSeconds(10);
  EXPECT_EQ(c->timeoutSeconds(), 10);
  expectIdentity(*c);
  // A large buffer goes in several buckets.
  std::vector<float> big(3u << 20, 0.5f);
  ASSERT_TRUE(c->allReduceSum(big.data(), big.size(), "big", error)) << error;
  EXPECT_EQ(big.front(), 0.5f);
  EXPECT_EQ(big.back(), 0.5f);
}

TEST(Communicator, NcclSaysWhyItIsUnavailable) {
  // Without libnccl, a CUDA driver or a GPU (this project's machines) the
  // error names what is missing; with them, one rank is the identity.
  std::string error;
  std::unique_ptr<Communicator> c =
      createNcclCommunicator(nullptr, /*device=*/0, error);
  if (!c) {
    EXPECT_TRUE(error.find("NCCL") != std::string::npos ||
                error.find("GPU") != std::string::npos)
        << error;
    return;
  }
  EXPECT_STREQ(c->backend(), "nccl");
  expectIdentity(*c);
}

} // namespace
