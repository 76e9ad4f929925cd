//===- CommunicatorRanksTest.cpp - the MPI backend across ranks -----------===//
//
// Run under mpirun by ctest (unittests/Distributed/CMakeLists.txt): every
// rank runs every test, and each collective is checked on every rank.
// Values are small integers, so every order of summation gives the exact
// sum and the results can be compared bit for bit.
//
// RingTimeout.* is run on its own: one rank never joins the all-reduce, the
// others must return the timeout error (then end the job, as the trainer
// does).
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

#include "gtest/gtest.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace onebit;

namespace {

Communicator &comm() {
  static std::unique_ptr<Communicator> c = [] {
    std::string error;
    auto made = createMpiCommunicator(nullptr, nullptr, error);
    if (!made) {
      std::fprintf(stderr, "%s\n", error.c_str());
      std::abort();
    }
    made->setTimeoutSeconds(60);
    return made;
  }();
  return *c;
}

float value(size_t i, int rank) { return float((i % 1000) * (rank + 1)); }

/// The MPI backend's message size (MpiCommunicator.cpp), in floats.
constexpr size_t kSegment() { return size_t(1) << 20; }

/// Sizes around the backend's cases: MPI_Iallreduce below 64 KiB; the ring
/// above, with blocks that are not whole segments or are cut unevenly.
TEST(MpiRanks, AllReduceSumsExactlyOnEveryRank) {
  Communicator &c = comm();
  const int n = c.size(), me = c.rank();
  ASSERT_GE(n, 2) << "run under mpirun -np 2 or more";
  const float factor = float(n * (n + 1) / 2);
  for (size_t count : {size_t(1), size_t(3), size_t(1000), size_t(16383),
                       size_t(16384), size_t(16387), size_t(3 << 20) + 7}) {
    std::vector<float> x(count);
    for (size_t i = 0; i < count; ++i)
      x[i] = value(i, me);
    std::string error;
    ASSERT_TRUE(c.allReduceSum(x.data(), count, "x", error)) << error;
    size_t wrong = 0;
    for (size_t i = 0; i < count; ++i)
      wrong += x[i] != value(i, 0) * factor;
    EXPECT_EQ(wrong, 0u) << "count " << count << ", rank " << me;
  }
  EXPECT_GT(c.takeCommSeconds(), 0.0);
}

/// Ranks reduce the same buffer again and again (the trainer's steps): the
/// ring's scratch and tags carry nothing from one call to the next.
TEST(MpiRanks, RepeatedRingAllReduces) {
  Communicator &c = comm();
  const int n = c.size(), me = c.rank();
  std::vector<float> x(size_t(1) << 21);
  for (int round = 0; round < 4; ++round) {
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = float(round + me + int(i % 7));
    std::string error;
    ASSERT_TRUE(c.allReduceSum(x.data(), x.size(), "round", error)) << error;
    for (size_t i = 0; i < x.size(); i += 4099)
      ASSERT_EQ(x[i], float(n * (round + int(i % 7)) + n * (n - 1) / 2))
          << "round " << round << ", element " << i;
  }
}

/// The two halves of the ring alone, and the base class's versions (the
/// sizes below 64 KiB): the reduce-scatter leaves the sum in this rank's
/// block, the all-gather copies every rank's block to all.
TEST(MpiRanks, ReduceScatterThenAllGatherBlocks) {
  Communicator &c = comm();
  const int n = c.size(), me = c.rank();
  const float factor = float(n * (n + 1) / 2);
  for (size_t count :
       {size_t(2), size_t(1001), size_t(16387), size_t(3 << 20) + 5}) {
    std::vector<float> x(count);
    for (size_t i = 0; i < count; ++i)
      x[i] = value(i, me);
    std::string error;
    ASSERT_TRUE(c.reduceScatterSum(x.data(), count, "x", error)) << error;
    auto [first, last] = c.blockOf(count);
    EXPECT_EQ(first, count * size_t(me) / size_t(n));
    size_t wrong = 0;
    for (size_t i = first; i < last; ++i)
      wrong += x[i] != value(i, 0) * factor;
    EXPECT_EQ(wrong, 0u) << "reduce-scatter, count " << count;
    // Each rank's block gets a mark of its rank; the all-gather spreads them.
    for (size_t i = first; i < last; ++i)
      x[i] = float(me * 100000 + int(i % 1000));
    ASSERT_TRUE(c.allGatherBlocks(x.data(), count, "x", error)) << error;
    for (int r = 0; r < n; ++r) {
      auto [lo, hi] = Communicator::blockOfRank(count, r, n);
      for (size_t i = lo; i < hi; ++i)
        wrong += x[i] != float(r * 100000 + int(i % 1000));
    }
    EXPECT_EQ(wrong, 0u) << "all-gather, count " << count;
  }
}

/// The all-gather of a buffer held in pieces (the trainer's parameters):
/// pieces of uneven lengths, one empty, blocks that start and end inside
/// pieces; on the ring (above 64 KiB) and through the base class (below).
TEST(MpiRanks, AllGatherBlocksInPieces) {
  Communicator &c = comm();
  const int n = c.size(), me = c.rank();
  for (size_t scale : {size_t(1), size_t(300)}) {
    std::vector<size_t> lengths = {7 * scale, 0, 1000 * scale, 3,
                                   2 * kSegment() + 11 * scale};
    std::vector<std::vector<float>> store;
    std::vector<std::pair<float *, size_t>> pieces;
    size_t count = 0;
    for (size_t len : lengths) {
      store.emplace_back(len, -1.0f);
      count += len;
    }
    for (auto &v : store)
      pieces.push_back({v.data(), v.size()});
    // This rank fills its block (values laid end to end) with marks.
    auto [first, last] = c.blockOf(count);
    auto at = [&](size_t i) -> float & {
      for (auto &[data, len] : pieces) {
        if (i < len)
          return data[i];
        i -= len;
      }
      std::abort();
    };
    for (size_t i = first; i < last; ++i)
      at(i) = float(me * 1000000 + int(i % 100000));
    std::string error;
    ASSERT_TRUE(c.allGatherBlocks(pieces, "pieces", error)) << error;
    size_t wrong = 0;
    for (int r = 0; r < n; ++r) {
      auto [lo, hi] = Communicator::blockOfRank(count, r, n);
      for (size_t i = lo; i < hi; ++i)
        wrong += at(i) != float(r * 1000000 + int(i % 100000));
    }
    EXPECT_EQ(wrong, 0u) << "count " << count;
  }
}

/// Rank 1 never joins: rank 0's ring all-reduce ends with the timeout error
/// within the bound instead of waiting. The job is then ended with exit code
/// 3, as onebit-train ends it; ctest looks for the message.
TEST(RingTimeout, AbsentRankIsAnError) {
  Communicator &c = comm();
  if (c.rank() != 0) {
    std::this_thread::sleep_for(std::chrono::seconds(30));
    return;
  }
  c.setTimeoutSeconds(2);
  std::vector<float> x(size_t(2) << 20, 1.0f);
  std::string error;
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.allReduceSum(x.data(), x.size(), "the big buffer", error));
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(secs, 10.0);
  std::printf("ring all-reduce error after %.1f s: %s\n", secs, error.c_str());
  std::fflush(stdout);
  c.abort(3);
}

} // namespace
