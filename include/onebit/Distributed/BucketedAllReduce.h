//===- BucketedAllReduce.h - all-reduce during the backward -----*- C++ -*-===//
//
// A data-parallel step's gradients are summed over the ranks bucket by
// bucket, on a thread of their own, each bucket as soon as the backward has
// finished all of its gradients (docs/training.md, "All-reduce during the
// backward"). The compiled gradient announces each finished gradient
// (onebit/Runtime/GradReady.h); a bucket is a run of consecutive gradients
// of the reduce buffer. Buckets start in the order they complete, which
// every rank's identical compiled code gives alike, so the ranks' collectives
// match; those the backward did not complete start after it, in order.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DISTRIBUTED_BUCKETEDALLREDUCE_H
#define ONEBIT_DISTRIBUTED_BUCKETEDALLREDUCE_H

#include "onebit/Runtime/GradReady.h"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace onebit {

class Communicator;

class BucketedAllReduce {
public:
  /// `buffer` holds the gradients laid end to end: gradient i at
  /// offsets[i], `total` values in all. Buckets are runs of consecutive
  /// gradients of at least `bucketValues` values (the last may be smaller;
  /// a larger gradient is a bucket of its own). The communicator must allow
  /// collectives from another thread (collectivesFromAnyThread) and is not
  /// used by anyone else during a step. `sharded` (a sharded optimizer,
  /// which needs its own block of the sums only): each bucket is
  /// reduce-scattered (Communicator::reduceScatterRangeSum with the whole
  /// buffer's blocks) instead of all-reduced.
  BucketedAllReduce(Communicator &comm, float *buffer,
                    std::vector<size_t> offsets, size_t total,
                    size_t bucketValues, bool sharded = false);
  ~BucketedAllReduce();
  BucketedAllReduce(const BucketedAllReduce &) = delete;
  BucketedAllReduce &operator=(const BucketedAllReduce &) = delete;

  size_t numBuckets() const { return bucketEnd_.size(); }
  /// The buckets the constructor cuts: bucket b holds the gradients
  /// [ends[b-1], ends[b]) (ends[-1] = 0).
  static std::vector<size_t> bucketEnds(const std::vector<size_t> &offsets,
                                        size_t total, size_t bucketValues);

  /// A step begins: every gradient and bucket pending. `what` names the
  /// collectives in errors ("the gradients of step 3").
  void beginStep(const std::string &what);

  /// While one exists, the gradients the calling thread's compiled code
  /// announces are this step's: written at `arrivals`, laid out as the
  /// buffer (the buffer itself, or a later micro-batch's gradients, each
  /// then added into the buffer as it arrives). Ends with the gradient call.
  class Listening {
  public:
    Listening(BucketedAllReduce &reduce, const float *arrivals);
    ~Listening();

  private:
    BucketedAllReduce &reduce_;
    onebit_grad_ready_listener previous_;
    void *previousContext_;
  };

  /// After the backward: gradients that were not announced are taken from
  /// `arrivals` as they are (added when it is not the buffer); the buckets
  /// not started yet start, in order; then `tail` (`tailValues` values,
  /// named `tailWhat`) is all-reduced; returns when every collective of the
  /// step is done. False with `error` when one failed.
  bool finishStep(const float *arrivals, float *tail, size_t tailValues,
                  const std::string &tailWhat, std::string &error);

  /// The last step: buckets started during the backward, and the seconds
  /// finishStep waited for collectives (the communication the backward did
  /// not hide).
  size_t startedDuringBackward() const { return startedEarly_; }
  double waitSeconds() const { return waitSeconds_; }

private:
  static void onReady(void *self, const void *address);
  void arrived(const void *address);
  /// Takes gradient i from `arrivals_` into the buffer and completes its
  /// bucket if it was the last.
  void take(size_t i);
  /// A collective for the worker: the values [first, last) of `data`,
  /// all-reduced, or reduce-scattered with the blocks of `total` values
  /// when `total` is not 0.
  struct Job {
    float *data;
    size_t first, last, total;
    std::string what;
  };
  void enqueue(Job job);
  void work();

  Communicator &comm_;
  float *buffer_;
  std::vector<size_t> offsets_;
  size_t total_;
  bool sharded_;
  /// Bucket b holds gradients [bucketEnd_[b-1], bucketEnd_[b]) (bucketEnds).
  std::vector<size_t> bucketEnd_, bucketOf_;
  std::vector<size_t> missing_;
  std::vector<bool> taken_;
  const float *arrivals_ = nullptr;
  std::string what_;
  size_t startedEarly_ = 0;
  bool inBackward_ = false;
  double waitSeconds_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::deque<Job> jobs_;
  size_t unfinished_ = 0;
  bool failed_ = false, stop_ = false;
  std::string error_;
  std::thread worker_;
};

} // namespace onebit

#endif // ONEBIT_DISTRIBUTED_BUCKETEDALLREDUCE_H
