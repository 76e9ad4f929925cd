//===- Communicator.h - collectives between the ranks of one run -*- C++ -*-===//
//
// The data-parallel trainer (docs/training.md, "Data parallel") talks to the
// other ranks of a run only through this interface: an all-reduce (sum) of
// f32 values, a broadcast and an all-gather of bytes, and an abort that ends
// every rank. Two backends implement it on existing engines:
//
//   * MPI (createMpiCommunicator), between CPU ranks: MPI_COMM_WORLD of a
//     run started by mpirun or srun;
//   * NCCL (createNcclCommunicator), between GPU ranks, one GPU per rank:
//     libnccl and the CUDA driver are loaded with dlopen on first use, as
//     the project's CUDA layer loads CUDA, so nothing links against them.
//
// Buffers are host memory in both cases (the trainer's tensors are); the
// NCCL backend stages them through device memory.
//
// Every collective is bounded in time: when it has not completed after
// `timeoutSeconds` (another rank died or hangs), it returns false with an
// error that says which collective and which rank waited. Errors come back
// as values; after one, the caller ends the run with abort(), since the
// other ranks may still wait in a collective.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DISTRIBUTED_COMMUNICATOR_H
#define ONEBIT_DISTRIBUTED_COMMUNICATOR_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace onebit {

class Communicator {
public:
  virtual ~Communicator();

  /// This process's rank in [0, size()).
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "mpi" or "nccl".
  virtual const char *backend() const = 0;

  /// In place: data[i] = the sum over the ranks of their data[i]. `what`
  /// names the collective in errors ("gradients of step 3").
  virtual bool allReduceSum(float *data, size_t count, const std::string &what,
                            std::string &error) = 0;
  /// Rank `root`'s `bytes` bytes of `data` replace every other rank's.
  virtual bool broadcast(void *data, size_t bytes, int root,
                         const std::string &what, std::string &error) = 0;
  /// out[r * bytes .. (r + 1) * bytes) = rank r's `in` (out holds size()
  /// times `bytes`).
  virtual bool allGather(const void *in, size_t bytes, void *out,
                         const std::string &what, std::string &error) = 0;
  /// This rank's block of a buffer of `count` values in reduceScatterSum
  /// and allGatherBlocks: [first, last) with first = count * rank / size().
  /// Blocks differ in length by at most one and may be empty.
  std::pair<size_t, size_t> blockOf(size_t count) const {
    return blockOfRank(count, rank(), size());
  }
  static std::pair<size_t, size_t> blockOfRank(size_t count, int rank,
                                               int size) {
    return {count * size_t(rank) / size_t(size),
            count * size_t(rank + 1) / size_t(size)};
  }
  /// In place: this rank's block (blockOf) of `data` becomes the sum over
  /// the ranks of their blocks; the rest of `data` is left unspecified.
  /// Half of an all-reduce's traffic. The default is allReduceSum.
  virtual bool reduceScatterSum(float *data, size_t count,
                                const std::string &what, std::string &error);
  /// reduceScatterSum of the values [first, last) of a buffer `data` of
  /// `total` values, the blocks still those of the whole buffer: the part
  /// of this rank's block (blockOf(total)) inside the range becomes the
  /// sum over the ranks; the rest of the range is left unspecified. A
  /// bucket of a sharded optimizer's gradients, reduced during the
  /// backward. Each value is summed in the order reduceScatterSum of the
  /// whole buffer sums it. The default is allReduceSum of the range.
  virtual bool reduceScatterRangeSum(float *data, size_t first, size_t last,
                                     size_t total, const std::string &what,
                                     std::string &error);
  /// In place: every rank's block (blockOf) of `data` replaces the other
  /// ranks' copies of it, so all ranks end with the same `count` values.
  /// The default goes through allGather and a copy.
  virtual bool allGatherBlocks(float *data, size_t count,
                               const std::string &what, std::string &error);
  /// allGatherBlocks of a buffer held in pieces: the buffer is the pieces'
  /// values laid end to end, in order (every rank's pieces of the same
  /// lengths), and each value is received where it lives. The default
  /// copies the pieces into one buffer and back.
  virtual bool
  allGatherBlocks(const std::vector<std::pair<float *, size_t>> &pieces,
                  const std::string &what, std::string &error);
  /// Ends every rank of the run with `code` (MPI_Abort; NCCL: the
  /// communicator is aborted and so is the bootstrap's job). Does not return.
  [[noreturn]] virtual void abort(int code) = 0;

  /// Whether collectives may be called from a thread other than the one
  /// that created the communicator, one thread at a time (what an
  /// all-reduce during the backward needs: the backward runs on the
  /// caller's thread while another reduces). MPI: when the library
  /// provides MPI_THREAD_SERIALIZED or more.
  virtual bool collectivesFromAnyThread() const { return false; }

  /// The bound on every collective, in seconds (> 0).
  double timeoutSeconds() const { return timeout_; }
  void setTimeoutSeconds(double seconds) { timeout_ = seconds; }

  /// The seconds spent inside collectives since the last call (waiting for
  /// slower ranks included).
  double takeCommSeconds() {
    double s = commSeconds_;
    commSeconds_ = 0;
    return s;
  }

protected:
  /// The error of a collective `what` that outlived the timeout on this rank.
  std::string timeoutError(const std::string &what) const;

  double timeout_ = 300;
  double commSeconds_ = 0;
};

/// Whether this build has the MPI backend (CMake found MPI).
bool mpiAvailable();

/// Initialises MPI (MPI_Init_thread, asking for MPI_THREAD_SERIALIZED;
/// argc/argv may be null) and returns a
/// communicator on MPI_COMM_WORLD whose errors return to the caller instead
/// of ending the process. Null with `error` set when MPI is not in this
/// build or fails to initialise. MPI is finalised when the last
/// communicator of the process is destroyed. Call once per process.
std::unique_ptr<Communicator> createMpiCommunicator(int *argc, char ***argv,
                                                    std::string &error);

/// The NCCL communicator of this rank on GPU `device` (of this node).
/// `bootstrap` carries NCCL's unique id from rank 0 to the others and gives
/// the rank and the size; null means a single rank (a one-GPU NCCL
/// communicator). Null with `error` set when libnccl, the CUDA driver or the
/// GPU is missing, or NCCL fails to initialise. The communicator keeps
/// `bootstrap` (for abort) but does its collectives on NCCL.
std::unique_ptr<Communicator>
createNcclCommunicator(std::shared_ptr<Communicator> bootstrap, int device,
                       std::string &error);

} // namespace onebit

#endif // ONEBIT_DISTRIBUTED_COMMUNICATOR_H
