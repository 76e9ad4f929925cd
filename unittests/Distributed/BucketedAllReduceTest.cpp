//===- BucketedAllReduceTest.cpp - buckets, their order, arrivals --------===//
//
// A communicator that records its all-reduces (doubling the values, as the
// sum over two identical ranks would) stands in for the ranks; the compiled
// code's gradient calls are made through the runtime's entry point, as the
// JIT'ed gradient makes them.
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/BucketedAllReduce.h"
#include "onebit/Distributed/Communicator.h"
#include "onebit/Runtime/GradReady.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <mutex>
#include <vector>

using namespace onebit;

namespace {

class RecordingCommunicator final : public Communicator {
public:
  explicit RecordingCommunicator(const float *base) : base_(base) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  const char *backend() const override { return "recording"; }
  bool collectivesFromAnyThread() const override { return true; }

  bool allReduceSum(float *data, size_t count, const std::string &what,
                    std::string &error) override {
    std::lock_guard<std::mutex> lock(mutex);
    if (failAt == calls.size()) {
      error = "no answer for " + what;
      calls.push_back({-1, count, what});
      return false;
    }
    calls.push_back({data - base_, count, what});
    for (size_t i = 0; i < count; ++i)
      data[i] *= 2;
    return true;
  }
  /// Records the range and doubles this rank's part of it (rank 0 of 2:
  /// the first half of the `total` values), as the ring would sum it.
  bool reduceScatterRangeSum(float *data, size_t first, size_t last,
                             size_t total, const std::string &what,
                             std::string &error) override {
    std::lock_guard<std::mutex> lock(mutex);
    ranges.push_back({first, last, total});
    calls.push_back({data + first - base_, last - first, what});
    auto [lo, hi] = blockOf(total);
    for (size_t i = std::max(first, lo); i < std::min(last, hi); ++i)
      data[i] *= 2;
    return true;
  }
  bool broadcast(void *, size_t, int, const std::string &,
                 std::string &) override {
    return true;
  }
  bool allGather(const void *, size_t, void *, const std::string &,
                 std::string &) override {
    return true;
  }
  [[noreturn]] void abort(int) override { std::abort(); }

  struct Call {
    ptrdiff_t offset; ///< from the gradient buffer's start (tail: its own)
    size_t count;
    std::string what;
  };
  struct Range {
    size_t first, last, total;
  };
  std::mutex mutex;
  std::vector<Call> calls;
  std::vector<Range> ranges;
  size_t failAt = size_t(-1);

private:
  const float *base_;
};

/// What the compiled gradient does when it has finished a gradient.
void announce(const float *gradient) {
  onebit_runtime_grad_ready(int64_t(reinterpret_cast<intptr_t>(gradient)));
}

// Five gradients of 4, 4, 8, 2, 6 values; buckets of at least 8 values:
// [0, 1] (8 values), [2] (8), [3, 4] (8).
struct Fixture {
  std::vector<size_t> offsets = {0, 4, 8, 16, 18};
  std::vector<float> buffer = std::vector<float>(24, 1.0f);
  float tail[3] = {1, 2, 3};
  RecordingCommunicator comm{buffer.data()};
};

TEST(BucketedAllReduce, BucketsStartInTheOrderTheBackwardCompletesThem) {
  Fixture f;
  BucketedAllReduce reduce(f.comm, f.buffer.data(), f.offsets, 24, 8);
  ASSERT_EQ(reduce.numBuckets(), 3u);
  reduce.beginStep("the gradients of step 1");
  {
    BucketedAllReduce::Listening listening(reduce, f.buffer.data());
    // The backward: last gradients first; bucket 2 completes first, then
    // bucket 1; gradient 1 is never announced.
    announce(f.buffer.data() + 18);
    announce(f.buffer.data() + 16);
    announce(f.buffer.data() + 8);
    announce(f.buffer.data() + 0);
    // Not a gradient's start, or not in the buffer: ignored.
    announce(f.buffer.data() + 5);
    float elsewhere[4];
    announce(elsewhere);
  }
  // With no listener, the call does nothing.
  announce(f.buffer.data() + 4);
  std::string error;
  ASSERT_TRUE(
      reduce.finishStep(f.buffer.data(), f.tail, 3, "the losses", error))
      << error;
  EXPECT_EQ(reduce.startedDuringBackward(), 2u);
  EXPECT_GE(reduce.waitSeconds(), 0.0);
  ASSERT_EQ(f.comm.calls.size(), 4u);
  EXPECT_EQ(f.comm.calls[0].offset, 16);
  EXPECT_EQ(f.comm.calls[0].count, 8u);
  EXPECT_EQ(f.comm.calls[0].what, "the gradients of step 1 (bucket 3 of 3)");
  EXPECT_EQ(f.comm.calls[1].offset, 8);
  EXPECT_EQ(f.comm.calls[1].count, 8u);
  EXPECT_EQ(f.comm.calls[2].offset, 0);
  EXPECT_EQ(f.comm.calls[2].count, 8u);
  EXPECT_EQ(f.comm.calls[3].what, "the losses");
  EXPECT_EQ(f.comm.calls[3].count, 3u);
  // Every value was reduced exactly once.
  for (float x : f.buffer)
    EXPECT_EQ(x, 2.0f);
  EXPECT_EQ(f.tail[2], 6.0f);
}

TEST(BucketedAllReduce, LaterMicroBatchGradientsAreAddedAsTheyArrive) {
  Fixture f;
  BucketedAllReduce reduce(f.comm, f.buffer.data(), f.offsets, 24, 8);
  std::vector<float> micro(24, 0.5f);
  reduce.beginStep("step 2");
  {
    BucketedAllReduce::Listening listening(reduce, micro.data());
    announce(micro.data() + 16);
    announce(micro.data() + 18);
    // The reduce buffer's own addresses are not this call's gradients.
    announce(f.buffer.data() + 8);
  }
  std::string error;
  ASSERT_TRUE(reduce.finishStep(micro.data(), f.tail, 3, "losses", error))
      << error;
  EXPECT_EQ(reduce.startedDuringBackward(), 1u);
  ASSERT_EQ(f.comm.calls.size(), 4u);
  EXPECT_EQ(f.comm.calls[0].offset, 16);
  EXPECT_EQ(f.comm.calls[1].offset, 0);
  EXPECT_EQ(f.comm.calls[2].offset, 8);
  // (1 + 0.5) summed over the two ranks, everywhere, added once.
  for (float x : f.buffer)
    EXPECT_EQ(x, 3.0f);
}

TEST(BucketedAllReduce, AFailedBucketFailsTheStepAndSkipsTheRest) {
  Fixture f;
  f.comm.failAt = 0;
  BucketedAllReduce reduce(f.comm, f.buffer.data(), f.offsets, 24, 8);
  reduce.beginStep("step 3");
  {
    BucketedAllReduce::Listening listening(reduce, f.buffer.data());
    announce(f.buffer.data() + 8);
  }
  std::string error;
  EXPECT_FALSE(reduce.finishStep(f.buffer.data(), f.tail, 3, "losses", error));
  EXPECT_EQ(error, "no answer for step 3 (bucket 2 of 3)");
  // The other buckets and the tail were not started.
  EXPECT_EQ(f.comm.calls.size(), 1u);
}

TEST(BucketedAllReduce, StepsRepeatAndOneBigBucketHoldsAll) {
  Fixture f;
  BucketedAllReduce reduce(f.comm, f.buffer.data(), f.offsets, 24,
                           size_t(1) << 20);
  ASSERT_EQ(reduce.numBuckets(), 1u);
  for (int step = 0; step < 3; ++step) {
    reduce.beginStep("step");
    {
      BucketedAllReduce::Listening listening(reduce, f.buffer.data());
      for (size_t offset : f.offsets)
        announce(f.buffer.data() + offset);
    }
    std::string error;
    ASSERT_TRUE(reduce.finishStep(f.buffer.data(), f.tail, 3, "losses", error))
        << error;
    EXPECT_EQ(reduce.startedDuringBackward(), 1u);
  }
  ASSERT_EQ(f.comm.calls.size(), 6u);
  EXPECT_EQ(f.comm.calls[4].count, 24u);
  for (float x : f.buffer)
    EXPECT_EQ(x, 8.0f);
}

// A sharded optimizer's buckets are reduce-scattered with the whole
// buffer's blocks: each call names its bucket's range and the buffer's
// size, and only this rank's block (values [0, 12) of 24) is summed; the
// losses are still all-reduced.
TEST(BucketedAllReduce, ShardedBucketsAreReduceScatteredWithTheWholeBlocks) {
  Fixture f;
  BucketedAllReduce reduce(f.comm, f.buffer.data(), f.offsets, 24, 8,
                           /*sharded=*/true);
  reduce.beginStep("step 4");
  {
    BucketedAllReduce::Listening listening(reduce, f.buffer.data());
    for (size_t offset : {18, 16, 8, 4, 0})
      announce(f.buffer.data() + offset);
  }
  std::string error;
  ASSERT_TRUE(reduce.finishStep(f.buffer.data(), f.tail, 3, "losses", error))
      << error;
  EXPECT_EQ(reduce.startedDuringBackward(), 3u);
  ASSERT_EQ(f.comm.ranges.size(), 3u);
  const size_t expected[3][2] = {{16, 24}, {8, 16}, {0, 8}};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(f.comm.ranges[i].first, expected[i][0]);
    EXPECT_EQ(f.comm.ranges[i].last, expected[i][1]);
    EXPECT_EQ(f.comm.ranges[i].total, 24u);
  }
  ASSERT_EQ(f.comm.calls.size(), 4u);
  EXPECT_EQ(f.comm.calls[3].what, "losses");
  for (size_t i = 0; i < 24; ++i)
    EXPECT_EQ(f.buffer[i], i < 12 ? 2.0f : 1.0f) << "value " << i;
  EXPECT_EQ(f.tail[0], 2.0f);
}

} // namespace
