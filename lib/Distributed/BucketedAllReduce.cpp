//===- BucketedAllReduce.cpp - gradients all-reduced during the backward --===//

#include "onebit/Distributed/BucketedAllReduce.h"
#include "onebit/Distributed/Communicator.h"

#include <algorithm>
#include <chrono>

namespace onebit {

BucketedAllReduce::BucketedAllReduce(Communicator &comm, float *buffer,
                                     std::vector<size_t> offsets, size_t total,
                                     size_t bucketValues, bool sharded)
    : comm_(comm), buffer_(buffer), offsets_(std::move(offsets)), total_(total),
      sharded_(sharded), bucketEnd_(bucketEnds(offsets_, total, bucketValues)) {
  for (size_t b = 0; b < bucketEnd_.size(); ++b)
    bucketOf_.resize(bucketEnd_[b], b);
  worker_ = std::thread([this] { work(); });
}

std::vector<size_t>
BucketedAllReduce::bucketEnds(const std::vector<size_t> &offsets, size_t total,
                              size_t bucketValues) {
  std::vector<size_t> ends;
  const size_t n = offsets.size();
  size_t first = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t end = i + 1 < n ? offsets[i + 1] : total;
    if (end - offsets[first] >= bucketValues || i + 1 == n) {
      ends.push_back(i + 1);
      first = i + 1;
    }
  }
  return ends;
}

BucketedAllReduce::~BucketedAllReduce() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void BucketedAllReduce::beginStep(const std::string &what) {
  what_ = what;
  missing_.assign(numBuckets(), 0);
  for (size_t b = 0; b < numBuckets(); ++b)
    missing_[b] = bucketEnd_[b] - (b ? bucketEnd_[b - 1] : 0);
  taken_.assign(offsets_.size(), false);
  startedEarly_ = 0;
  waitSeconds_ = 0;
  std::lock_guard<std::mutex> lock(mutex_);
  failed_ = false;
  error_.clear();
}

BucketedAllReduce::Listening::Listening(BucketedAllReduce &reduce,
                                        const float *arrivals)
    : reduce_(reduce) {
  reduce.arrivals_ = arrivals;
  reduce.inBackward_ = true;
  onebit_runtime_set_grad_ready_listener(&BucketedAllReduce::onReady, &reduce,
                                         &previous_, &previousContext_);
}

BucketedAllReduce::Listening::~Listening() {
  onebit_runtime_set_grad_ready_listener(previous_, previousContext_, nullptr,
                                         nullptr);
  reduce_.inBackward_ = false;
}

void BucketedAllReduce::onReady(void *self, const void *address) {
  static_cast<BucketedAllReduce *>(self)->arrived(address);
}

void BucketedAllReduce::arrived(const void *address) {
  // Which gradient: its offset from the arrivals' start. An address that
  // starts none (not one of this step's gradients) is ignored; that
  // gradient is then taken after the backward.
  const float *at = static_cast<const float *>(address);
  if (!arrivals_ || at < arrivals_ || at >= arrivals_ + total_)
    return;
  const size_t offset = size_t(at - arrivals_);
  auto it = std::lower_bound(offsets_.begin(), offsets_.end(), offset);
  if (it == offsets_.end() || *it != offset)
    return;
  const size_t i = size_t(it - offsets_.begin());
  // Zero-sized gradients share an offset with the next: take them all.
  for (size_t j = i; j < offsets_.size() && offsets_[j] == offset; ++j)
    if (!taken_[j])
      take(j);
}

void BucketedAllReduce::take(size_t i) {
  taken_[i] = true;
  if (arrivals_ != buffer_) {
    const size_t end = i + 1 < offsets_.size() ? offsets_[i + 1] : total_;
    float *to = buffer_ + offsets_[i];
    const float *from = arrivals_ + offsets_[i];
    for (size_t e = 0, n = end - offsets_[i]; e < n; ++e)
      to[e] += from[e];
  }
  const size_t b = bucketOf_[i];
  if (--missing_[b] != 0)
    return;
  startedEarly_ += inBackward_;
  const size_t lo = offsets_[b ? bucketEnd_[b - 1] : 0];
  const size_t hi =
      bucketEnd_[b] < offsets_.size() ? offsets_[bucketEnd_[b]] : total_;
  std::string what = what_ + " (bucket " + std::to_string(b + 1) + " of " +
                     std::to_string(numBuckets()) + ")";
  enqueue({buffer_, lo, hi, sharded_ ? total_ : 0, std::move(what)});
}

void BucketedAllReduce::enqueue(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(job));
    ++unfinished_;
  }
  wake_.notify_one();
}

bool BucketedAllReduce::finishStep(const float *arrivals, float *tail,
                                   size_t tailValues,
                                   const std::string &tailWhat,
                                   std::string &error) {
  const auto start = std::chrono::steady_clock::now();
  arrivals_ = arrivals;
  inBackward_ = false;
  // Gradients the backward did not announce, in order: every rank's
  // identical code leaves the same ones, so the ranks start the remaining
  // buckets alike.
  for (size_t i = 0; i < offsets_.size(); ++i)
    if (!taken_[i])
      take(i);
  enqueue({tail, 0, tailValues, 0, tailWhat});
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return unfinished_ == 0; });
  arrivals_ = nullptr;
  waitSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (failed_) {
    error = error_;
    return false;
  }
  return true;
}

void BucketedAllReduce::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty())
      return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    // After a failure the run ends (the caller aborts every rank): the
    // step's other collectives are not started.
    if (!failed_) {
      lock.unlock();
      std::string error;
      bool ok = job.total
                    ? comm_.reduceScatterRangeSum(job.data, job.first, job.last,
                                                  job.total, job.what, error)
                    : comm_.allReduceSum(job.data + job.first,
                                         job.last - job.first, job.what, error);
      lock.lock();
      if (!ok && !failed_) {
        failed_ = true;
        error_ = error;
      }
    }
    if (--unfinished_ == 0)
      done_.notify_all();
  }
}

} // namespace onebit
