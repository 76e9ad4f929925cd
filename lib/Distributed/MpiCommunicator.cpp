//===- MpiCommunicator.cpp - the MPI backend of Communicator --------------===//
//
// Collectives on a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so an
// MPI failure comes back as an error value. Each collective is started
// non-blocking and completed by polling MPI_Test until a deadline: a dead or
// hung rank makes the others return an error after timeoutSeconds() instead
// of waiting for ever.
// Small all-reduces, broadcasts and all-gathers are MPI's own (MPI_Iallreduce,
// MPI_Ibcast, MPI_Iallgather). A large all-reduce (the gradients) goes round
// a ring of non-blocking point-to-point messages (its reduce-scatter and
// all-gather halves also serve reduceScatterSum and allGatherBlocks), which on
// one machine is about 3x faster than the non-blocking MPI_Iallreduce and 1.7x
// faster than the blocking MPI_Allreduce of Open MPI 4.1 (docs/training.md,
// "Data parallel").
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace onebit {
namespace {

/// All-reduces of at least this many bytes go round the ring (the gradients
/// of every model, even the tests'); smaller ones (losses, votes) are one
/// MPI_Iallreduce.
constexpr size_t kRingMinBytes = size_t(64) << 10;
/// The ring's messages: large enough that the per-message cost is small,
/// small enough that adding one overlaps the transfer of the next.
constexpr size_t kSegmentFloats = size_t(1) << 20;
/// The receives the reduce-scatter keeps posted (its scratch holds as many
/// segments).
constexpr size_t kWindow = 8;

/// A piece of the buffer being reduced.
struct Span {
  float *data;
  size_t count;
};

/// The ring's messages for values [first, last) of a buffer held in
/// `pieces` (laid end to end): cut where a piece ends and every
/// kSegmentFloats. Ranks with pieces of the same lengths cut alike, so each
/// message matches the receive posted for it.
std::vector<Span> segmentsOf(const std::vector<Span> &pieces, size_t first,
                             size_t last) {
  std::vector<Span> out;
  size_t at = 0;
  for (const Span &p : pieces) {
    const size_t lo = std::max(first, at), hi = std::min(last, at + p.count);
    for (size_t s = lo; s < hi; s += kSegmentFloats)
      out.push_back({p.data + (s - at), std::min(kSegmentFloats, hi - s)});
    at += p.count;
    if (at >= last)
      break;
  }
  return out;
}

/// The polling policy of a collective: spin while messages arrive, sleep
/// between polls once nothing has arrived for a millisecond (so a long wait
/// leaves the core to others), give up at the deadline.
class Poller {
public:
  explicit Poller(std::chrono::steady_clock::time_point deadline)
      : deadline_(deadline), last_(std::chrono::steady_clock::now()) {}

  void progressed() { last_ = std::chrono::steady_clock::now(); }
  /// False once the deadline has passed.
  bool idle() {
    using namespace std::chrono;
    auto now = steady_clock::now();
    if (now > deadline_)
      return false;
    if (now - last_ > milliseconds(1))
      std::this_thread::sleep_for(microseconds(50));
    return true;
  }

private:
  std::chrono::steady_clock::time_point deadline_, last_;
};

std::string mpiErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, size_t(len));
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(MPI_Comm comm, int rank, int size, bool serialized)
      : comm_(comm), rank_(rank), size_(size), serialized_(serialized) {}
  ~MpiCommunicator() override {
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
      MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char *backend() const override { return "mpi"; }
  bool collectivesFromAnyThread() const override { return serialized_; }

  bool allReduceSum(float *data, size_t count, const std::string &what,
                    std::string &error) override {
    bool useRing;
    bool ok = onRing(count, useRing, [&](Poller &poller) {
      return ringReduceScatter(data, count, poller, what, error) &&
             ringAllGather({{data, count}}, count, poller, what, error);
    });
    if (useRing)
      return ok;
    auto start = std::chrono::steady_clock::now();
    MPI_Request r;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, data, int(count), MPI_FLOAT, MPI_SUM,
                            comm_, &r);
    if (rc != MPI_SUCCESS) {
      error = fail(what, "MPI_Iallreduce", rc);
      return false;
    }
    std::vector<MPI_Request> requests{r};
    return wait(requests, what, start, error);
  }

  bool reduceScatterSum(float *data, size_t count, const std::string &what,
                        std::string &error) override {
    bool useRing;
    bool ok = onRing(count, useRing, [&](Poller &poller) {
      return ringReduceScatter(data, count, poller, what, error);
    });
    return useRing ? ok
                   : Communicator::reduceScatterSum(data, count, what, error);
  }

  bool reduceScatterRangeSum(float *data, size_t first, size_t last,
                             size_t total, const std::string &what,
                             std::string &error) override {
    if (first >= last)
      return true;
    // The ring whenever the whole buffer's reduce-scatter takes it, however
    // small the range: the same blocks, so each value is summed in the
    // same order as there.
    bool useRing;
    bool ok = onRing(total, useRing, [&](Poller &poller) {
      return ringReduceScatter(data, total, poller, what, error, first, last);
    });
    return useRing ? ok
                   : Communicator::reduceScatterRangeSum(data, first, last,
                                                         total, what, error);
  }

  bool allGatherBlocks(float *data, size_t count, const std::string &what,
                       std::string &error) override {
    bool useRing;
    bool ok = onRing(count, useRing, [&](Poller &poller) {
      return ringAllGather({{data, count}}, count, poller, what, error);
    });
    return useRing ? ok
                   : Communicator::allGatherBlocks(data, count, what, error);
  }

  bool allGatherBlocks(const std::vector<std::pair<float *, size_t>> &pieces,
                       const std::string &what, std::string &error) override {
    std::vector<Span> spans;
    size_t count = 0;
    for (const auto &[data, n] : pieces) {
      spans.push_back({data, n});
      count += n;
    }
    bool useRing;
    bool ok = onRing(count, useRing, [&](Poller &poller) {
      return ringAllGather(spans, count, poller, what, error);
    });
    return useRing ? ok : Communicator::allGatherBlocks(pieces, what, error);
  }

  bool broadcast(void *data, size_t bytes, int root, const std::string &what,
                 std::string &error) override {
    std::vector<MPI_Request> requests;
    auto start = std::chrono::steady_clock::now();
    // MPI counts are int: large buffers go in pieces.
    const size_t piece = size_t(1) << 30;
    for (size_t first = 0; first < bytes; first += piece) {
      MPI_Request r;
      int rc = MPI_Ibcast(static_cast<char *>(data) + first,
                          int(std::min(piece, bytes - first)), MPI_BYTE, root,
                          comm_, &r);
      if (rc != MPI_SUCCESS) {
        error = fail(what, "MPI_Ibcast", rc);
        return false;
      }
      requests.push_back(r);
    }
    return wait(requests, what, start, error);
  }

  bool allGather(const void *in, size_t bytes, void *out,
                 const std::string &what, std::string &error) override {
    if (bytes > size_t(1) << 30) {
      error = "all-gather of " + what + ": " + std::to_string(bytes) +
              " bytes per rank is more than this backend sends at once";
      return false;
    }
    auto start = std::chrono::steady_clock::now();
    MPI_Request r;
    int rc = MPI_Iallgather(in, int(bytes), MPI_BYTE, out, int(bytes),
                            MPI_BYTE, comm_, &r);
    if (rc != MPI_SUCCESS) {
      error = fail(what, "MPI_Iallgather", rc);
      return false;
    }
    std::vector<MPI_Request> requests{r};
    return wait(requests, what, start, error);
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code); // MPI_Abort does not return; in case it does.
  }

private:
  std::chrono::steady_clock::time_point
  deadlineFrom(std::chrono::steady_clock::time_point start) const {
    using namespace std::chrono;
    return start + duration_cast<steady_clock::duration>(
                       duration<double>(timeoutSeconds()));
  }

  /// The ring. The buffer is cut into size() blocks, block r being
  /// blockOf(count) of rank r. In step k of the reduce-scatter, each rank
  /// sends block (rank - k - 1) to its right neighbour and adds block
  /// (rank - k - 2), received from its left, into its own copy; after
  /// size() - 1 steps its own block holds the sum of every rank's. In step k
  /// of the all-gather it sends block (rank - k) and receives block
  /// (rank - k - 1) in place. Each half sends (R - 1) / R of the buffer; the
  /// reduce-scatter adds as much. Each block is summed on one rank and
  /// copied to the others, so every rank ends with the same bits.
  /// The messages of block `b` (taken modulo size()) of a buffer of
  /// `count` values held in `pieces`, clipped to [from, to) (a bucket of
  /// the buffer: its part of each block; possibly none).
  std::vector<Span> ringBlock(const std::vector<Span> &pieces, size_t count,
                              int b, size_t from = 0,
                              size_t to = SIZE_MAX) const {
    const int n = size_;
    auto [first, last] = blockOfRank(count, ((b % n) + n) % n, n);
    first = std::max(first, from);
    last = std::min(last, to);
    if (first >= last)
      return {};
    return segmentsOf(pieces, first, last);
  }
  int rightRank() const { return (rank_ + 1) % size_; }
  int leftRank() const { return (rank_ + size_ - 1) % size_; }

  /// The reduce-scatter of `data` (`count` values), or of its values
  /// [from, to) with the whole buffer's blocks (reduceScatterRangeSum).
  bool ringReduceScatter(float *data, size_t count, Poller &poller,
                         const std::string &what, std::string &error,
                         size_t from = 0, size_t to = SIZE_MAX) {
    scratch_.resize(kWindow * kSegmentFloats);
    const std::vector<Span> whole{{data, count}};
    for (int k = 0; k < size_ - 1; ++k)
      if (!exchange(
              ringBlock(whole, count, rank_ - k - 1, from, to), rightRank(),
              ringBlock(whole, count, rank_ - k - 2, from, to), leftRank(),
              /*add=*/true, /*tag=*/k, poller, what, error))
        return false;
    return true;
  }

  bool ringAllGather(const std::vector<Span> &pieces, size_t count,
                     Poller &poller, const std::string &what,
                     std::string &error) {
    for (int k = 0; k < size_ - 1; ++k)
      if (!exchange(ringBlock(pieces, count, rank_ - k), rightRank(),
                    ringBlock(pieces, count, rank_ - k - 1), leftRank(),
                    /*add=*/false, /*tag=*/size_ + k, poller, what, error))
        return false;
    return true;
  }

  /// Runs `ring` (the halves above) when the ring is worth it, timing it as
  /// a collective; false from `useRing` when the caller should use MPI's.
  template <typename Fn> bool onRing(size_t count, bool &useRing, Fn ring) {
    useRing = size_ > 1 && count * sizeof(float) >= kRingMinBytes;
    if (!useRing)
      return true;
    auto start = std::chrono::steady_clock::now();
    Poller poller(deadlineFrom(start));
    bool ok = ring(poller);
    commSeconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    return ok;
  }

  /// One step of the ring: the segments `send` go to rank `to` while the
  /// segments `recv` come from rank `from`. With `add`, each received
  /// segment is added into its place (through the scratch window);
  /// otherwise it is received in place.
  bool exchange(const std::vector<Span> &send, int to,
                const std::vector<Span> &recv, int from, bool add, int tag,
                Poller &poller, const std::string &what, std::string &error) {
    const size_t numSends = send.size(), numRecvs = recv.size();
    std::vector<MPI_Request> sends(numSends, MPI_REQUEST_NULL),
        recvs(numRecvs, MPI_REQUEST_NULL);
    for (size_t i = 0; i < numSends; ++i) {
      const Span &s = send[i];
      int rc =
          MPI_Isend(s.data, int(s.count), MPI_FLOAT, to, tag, comm_, &sends[i]);
      if (rc != MPI_SUCCESS) {
        error = fail(what, "MPI_Isend", rc);
        return false;
      }
    }
    size_t posted = 0;
    auto post = [&]() {
      const Span &r = recv[posted];
      float *into =
          add ? scratch_.data() + (posted % kWindow) * kSegmentFloats : r.data;
      int rc = MPI_Irecv(into, int(r.count), MPI_FLOAT, from, tag, comm_,
                         &recvs[posted]);
      ++posted;
      if (rc != MPI_SUCCESS)
        error = fail(what, "MPI_Irecv", rc);
      return rc == MPI_SUCCESS;
    };
    const size_t window = add ? kWindow : numRecvs;
    while (posted < std::min(numRecvs, window))
      if (!post())
        return false;
    // Receives complete in order (the segments of one sender and tag).
    for (size_t done = 0; done < numRecvs;) {
      int flag = 0;
      int rc = MPI_Test(&recvs[done], &flag, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) {
        error = fail(what, "MPI_Test", rc);
        return false;
      }
      if (!flag) {
        if (!poller.idle()) {
          error = timeoutError(what);
          return false;
        }
        continue;
      }
      poller.progressed();
      if (add) {
        const Span &r = recv[done];
        const float *in = scratch_.data() + (done % kWindow) * kSegmentFloats;
        for (size_t e = 0; e < r.count; ++e)
          r.data[e] += in[e];
      }
      ++done;
      if (posted < numRecvs && !post())
        return false;
    }
    while (true) {
      int flag = 0;
      int rc =
          MPI_Testall(int(numSends), sends.data(), &flag, MPI_STATUSES_IGNORE);
      if (rc != MPI_SUCCESS) {
        error = fail(what, "MPI_Testall", rc);
        return false;
      }
      if (flag)
        return true;
      if (!poller.idle()) {
        error = timeoutError(what);
        return false;
      }
    }
  }

  std::string fail(const std::string &what, const char *call, int rc) {
    return "rank " + std::to_string(rank_) + ": " + call + " (" + what +
           ") failed: " + mpiErrorString(rc);
  }

  /// Polls `requests` until all complete or the deadline passes (the
  /// Poller's policy).
  bool wait(std::vector<MPI_Request> &requests, const std::string &what,
            std::chrono::steady_clock::time_point start, std::string &error) {
    Poller poller(deadlineFrom(start));
    bool ok = true;
    for (MPI_Request &r : requests) {
      while (ok) {
        int done = 0;
        int rc = MPI_Test(&r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
          error = fail(what, "MPI_Test", rc);
          ok = false;
        } else if (done) {
          break;
        } else if (!poller.idle()) {
          error = timeoutError(what);
          ok = false;
        }
      }
      if (!ok)
        break;
    }
    commSeconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    // Requests still pending are left to MPI_Abort, which the caller runs
    // after an error.
    return ok;
  }

  MPI_Comm comm_;
  int rank_, size_;
  bool serialized_;
  /// The ring's receive window (kWindow segments), kept between calls.
  std::vector<float> scratch_;
};

} // namespace

bool mpiAvailable() { return true; }

std::unique_ptr<Communicator> createMpiCommunicator(int *argc, char ***argv,
                                                    std::string &error) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // SERIALIZED: the trainer's all-reduce during the backward runs on a
    // thread of its own, never at the same time as another collective.
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) !=
        MPI_SUCCESS) {
      error = "MPI_Init_thread failed";
      return nullptr;
    }
  }
  // What MPI provides, whoever initialised it (mpi4py, say).
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm comm;
  int rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  if (rc != MPI_SUCCESS) {
    error = "MPI_Comm_dup failed: " + mpiErrorString(rc);
    return nullptr;
  }
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return std::make_unique<MpiCommunicator>(comm, rank, size,
                                           level >= MPI_THREAD_SERIALIZED);
}

} // namespace onebit
