//===- MpiCommunicator.cpp - the MPI backend of Communicator --------------===//
//
// Collectives on a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so an
// MPI failure comes back as an error value. Each collective is started
// non-blocking (MPI_Iallreduce, MPI_Ibcast, MPI_Iallgather) and completed by
// polling MPI_Test until a deadline: a dead or hung rank makes the others
// return an error after timeoutSeconds() instead of waiting for ever.
// All-reduces of large buffers go in buckets of kBucketBytes, all started
// before the first is waited for.
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace onebit {
namespace {

/// The all-reduce's bucket size: large enough that the per-message cost is
/// small, small enough that the transfers pipeline.
constexpr size_t kBucketBytes = size_t(4) << 20;

std::string mpiErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, size_t(len));
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(MPI_Comm comm, int rank, int size)
      : comm_(comm), rank_(rank), size_(size) {}
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

  bool allReduceSum(float *data, size_t count, const std::string &what,
                    std::string &error) override {
    std::vector<MPI_Request> requests;
    const size_t bucket = kBucketBytes / sizeof(float);
    auto start = std::chrono::steady_clock::now();
    for (size_t first = 0; first < count; first += bucket) {
      const int n = int(std::min(bucket, count - first));
      MPI_Request r;
      int rc = MPI_Iallreduce(MPI_IN_PLACE, data + first, n, MPI_FLOAT,
                              MPI_SUM, comm_, &r);
      if (rc != MPI_SUCCESS) {
        error = fail(what, "MPI_Iallreduce", rc);
        return false;
      }
      requests.push_back(r);
    }
    return wait(requests, what, start, error);
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
  std::string fail(const std::string &what, const char *call, int rc) {
    return "rank " + std::to_string(rank_) + ": " + call + " (" + what +
           ") failed: " + mpiErrorString(rc);
  }

  /// Polls `requests` until all complete or the deadline passes. Spins for
  /// the first millisecond (most collectives end there), then sleeps
  /// between polls so a long wait leaves the core to others.
  bool wait(std::vector<MPI_Request> &requests, const std::string &what,
            std::chrono::steady_clock::time_point start, std::string &error) {
    using namespace std::chrono;
    const auto deadline =
        start + duration_cast<steady_clock::duration>(
                    duration<double>(timeoutSeconds()));
    bool ok = true;
    for (MPI_Request &r : requests) {
      while (true) {
        int done = 0;
        int rc = MPI_Test(&r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
          error = fail(what, "MPI_Test", rc);
          ok = false;
          break;
        }
        if (done)
          break;
        auto now = steady_clock::now();
        if (now > deadline) {
          error = timeoutError(what);
          ok = false;
          break;
        }
        if (now - start > milliseconds(1))
          std::this_thread::sleep_for(microseconds(50));
      }
      if (!ok)
        break;
    }
    commSeconds_ +=
        duration<double>(steady_clock::now() - start).count();
    // Requests still pending are left to MPI_Abort, which the caller runs
    // after an error.
    return ok;
  }

  MPI_Comm comm_;
  int rank_, size_;
};

} // namespace

bool mpiAvailable() { return true; }

std::unique_ptr<Communicator> createMpiCommunicator(int *argc, char ***argv,
                                                    std::string &error) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS) {
      error = "MPI_Init_thread failed";
      return nullptr;
    }
  }
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
  return std::make_unique<MpiCommunicator>(comm, rank, size);
}

} // namespace onebit
