//===- NcclCommunicator.cpp - the NCCL backend of Communicator ------------===//
//
// Collectives between GPU ranks on NCCL, one GPU per rank (the rank's
// device 0: give each rank its own GPU with CUDA_VISIBLE_DEVICES, as
// `srun --gpus-per-task=1` does). libnccl.so.2 and libcuda.so.1 are loaded
// with dlopen on first use, as runtime/lib/CudaRuntime.cpp loads CUDA: the
// library has no link-time dependency on them and reports at run time when
// they or a GPU are missing. The function pointers take their types from
// nccl.h and cuda.h, so the calls are checked against the real headers when
// this file compiles.
//
// The trainer's buffers are host memory: each collective copies them to a
// device buffer, runs the NCCL collective on this rank's stream and copies
// the result back. The communicator is created non-blocking
// (ncclConfig_t::blocking = 0) and every wait polls the stream and
// ncclCommGetAsyncError until a deadline, so a dead rank makes the others
// fail after timeoutSeconds() (the communicator is then aborted) rather
// than hang. NCCL's unique id travels from rank 0 over the bootstrap
// communicator (MPI); a run of one rank needs none.
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

#include <cuda.h>
#include <nccl.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <cstdlib>
#include <thread>
#include <type_traits>

namespace onebit {
namespace {

/// The NCCL and CUDA driver entry points used here, loaded once.
struct Api {
  decltype(&::ncclGetUniqueId) getUniqueId;
  decltype(&::ncclCommInitRankConfig) commInitRankConfig;
  decltype(&::ncclCommGetAsyncError) commGetAsyncError;
  decltype(&::ncclCommAbort) commAbort;
  decltype(&::ncclCommDestroy) commDestroy;
  decltype(&::ncclAllReduce) allReduce;
  decltype(&::ncclBroadcast) broadcast;
  decltype(&::ncclAllGather) allGather;
  decltype(&::ncclGetErrorString) getErrorString;
  decltype(&::ncclGetVersion) getVersion;

  decltype(&::cuInit) cuInit;
  decltype(&::cuDeviceGetCount) cuDeviceGetCount;
  decltype(&::cuDeviceGet) cuDeviceGet;
  decltype(&::cuDevicePrimaryCtxRetain) cuDevicePrimaryCtxRetain;
  decltype(&::cuCtxSetCurrent) cuCtxSetCurrent;
  decltype(&::cuGetErrorString) cuGetErrorString;
  decltype(&::cuStreamCreate) cuStreamCreate;
  decltype(&::cuStreamQuery) cuStreamQuery;
  decltype(&::cuStreamDestroy) cuStreamDestroy;
  decltype(&::cuMemAlloc) cuMemAlloc;
  decltype(&::cuMemFree) cuMemFree;
  decltype(&::cuMemcpyHtoDAsync) cuMemcpyHtoDAsync;
  decltype(&::cuMemcpyDtoHAsync) cuMemcpyDtoHAsync;

  std::string error; ///< why NCCL is unusable, empty when it is fine
};

const Api &api() {
  static Api a;
  static std::once_flag once;
  std::call_once(once, [] {
    void *nccl = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!nccl) {
      const char *e = dlerror();
      a.error = std::string("cannot load libnccl.so.2: ") + (e ? e : "?");
      return;
    }
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!cuda) {
      const char *e = dlerror();
      a.error = std::string("no CUDA driver: cannot load libcuda.so.1: ") +
                (e ? e : "?");
      return;
    }
    auto sym = [&](void *lib, const char *libName, auto &fn,
                   const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(lib, name));
      if (!fn && a.error.empty())
        a.error = std::string(libName) + " lacks " + name;
    };
    sym(nccl, "libnccl.so.2", a.getUniqueId, "ncclGetUniqueId");
    sym(nccl, "libnccl.so.2", a.commInitRankConfig, "ncclCommInitRankConfig");
    sym(nccl, "libnccl.so.2", a.commGetAsyncError, "ncclCommGetAsyncError");
    sym(nccl, "libnccl.so.2", a.commAbort, "ncclCommAbort");
    sym(nccl, "libnccl.so.2", a.commDestroy, "ncclCommDestroy");
    sym(nccl, "libnccl.so.2", a.allReduce, "ncclAllReduce");
    sym(nccl, "libnccl.so.2", a.broadcast, "ncclBroadcast");
    sym(nccl, "libnccl.so.2", a.allGather, "ncclAllGather");
    sym(nccl, "libnccl.so.2", a.getErrorString, "ncclGetErrorString");
    sym(nccl, "libnccl.so.2", a.getVersion, "ncclGetVersion");
    // The _v2 names are what cuda.h's macros map the plain ones to.
    sym(cuda, "libcuda.so.1", a.cuInit, "cuInit");
    sym(cuda, "libcuda.so.1", a.cuDeviceGetCount, "cuDeviceGetCount");
    sym(cuda, "libcuda.so.1", a.cuDeviceGet, "cuDeviceGet");
    sym(cuda, "libcuda.so.1", a.cuDevicePrimaryCtxRetain,
        "cuDevicePrimaryCtxRetain");
    sym(cuda, "libcuda.so.1", a.cuCtxSetCurrent, "cuCtxSetCurrent");
    sym(cuda, "libcuda.so.1", a.cuGetErrorString, "cuGetErrorString");
    sym(cuda, "libcuda.so.1", a.cuStreamCreate, "cuStreamCreate");
    sym(cuda, "libcuda.so.1", a.cuStreamQuery, "cuStreamQuery");
    sym(cuda, "libcuda.so.1", a.cuStreamDestroy, "cuStreamDestroy_v2");
    sym(cuda, "libcuda.so.1", a.cuMemAlloc, "cuMemAlloc_v2");
    sym(cuda, "libcuda.so.1", a.cuMemFree, "cuMemFree_v2");
    sym(cuda, "libcuda.so.1", a.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    sym(cuda, "libcuda.so.1", a.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  });
  return a;
}

std::string cuError(const Api &a, CUresult rc) {
  const char *s = nullptr;
  if (a.cuGetErrorString && a.cuGetErrorString(rc, &s) == CUDA_SUCCESS && s)
    return s;
  return "CUDA error " + std::to_string(int(rc));
}

class NcclCommunicator final : public Communicator {
public:
  NcclCommunicator(std::shared_ptr<Communicator> bootstrap, int rank, int size)
      : bootstrap_(std::move(bootstrap)), rank_(rank), size_(size) {}
  ~NcclCommunicator() override {
    const Api &a = api();
    if (comm_)
      (aborted_ ? a.commAbort : a.commDestroy)(comm_);
    if (buffer_)
      a.cuMemFree(buffer_);
    if (stream_)
      a.cuStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char *backend() const override { return "nccl"; }

  /// The CUDA context, the stream and the communicator.
  bool init(int device, const ncclUniqueId &id, std::string &error) {
    const Api &a = api();
    CUresult rc = a.cuInit(0);
    int count = 0;
    if (rc == CUDA_SUCCESS)
      rc = a.cuDeviceGetCount(&count);
    if (rc != CUDA_SUCCESS || count <= device) {
      error = "no GPU " + std::to_string(device) + " for rank " +
              std::to_string(rank_) + " (" +
              (rc != CUDA_SUCCESS ? cuError(a, rc)
                                  : std::to_string(count) + " found") +
              ")";
      return false;
    }
    CUdevice dev;
    CUcontext ctx;
    if ((rc = a.cuDeviceGet(&dev, device)) != CUDA_SUCCESS ||
        (rc = a.cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS ||
        (rc = a.cuCtxSetCurrent(ctx)) != CUDA_SUCCESS ||
        (rc = a.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING)) !=
            CUDA_SUCCESS) {
      error = "cannot set up GPU " + std::to_string(device) + ": " +
              cuError(a, rc);
      return false;
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r =
        a.commInitRankConfig(&comm_, size_, id, rank_, &config);
    return finish(r, "ncclCommInitRank", /*streamToo=*/false,
                  std::chrono::steady_clock::now(), error);
  }

  bool allReduceSum(float *data, size_t count, const std::string &what,
                    std::string &error) override {
    const size_t bytes = count * sizeof(float);
    return staged(data, bytes, data, bytes, what, error, [&] {
      return api().allReduce(reinterpret_cast<void *>(buffer_),
                             reinterpret_cast<void *>(buffer_), count,
                             ncclFloat32, ncclSum, comm_, stream_);
    });
  }

  bool broadcast(void *data, size_t bytes, int root, const std::string &what,
                 std::string &error) override {
    return staged(data, bytes, data, bytes, what, error, [&] {
      return api().broadcast(reinterpret_cast<void *>(buffer_),
                             reinterpret_cast<void *>(buffer_), bytes,
                             ncclUint8, root, comm_, stream_);
    });
  }

  bool allGather(const void *in, size_t bytes, void *out,
                 const std::string &what, std::string &error) override {
    // The rank's piece goes to its own slot, then is gathered in place.
    return staged(in, bytes, out, bytes * size_t(size_), what, error, [&] {
      char *base = reinterpret_cast<char *>(buffer_);
      return api().allGather(base + bytes * size_t(rank_), base, bytes,
                             ncclUint8, comm_, stream_);
    }, bytes * size_t(rank_));
  }

  [[noreturn]] void abort(int code) override {
    if (comm_ && !aborted_) {
      api().commAbort(comm_);
      aborted_ = true;
      comm_ = nullptr;
    }
    if (bootstrap_)
      bootstrap_->abort(code);
    std::_Exit(code);
  }

private:
  /// Copies `inBytes` of `in` to the device buffer (at `inOffset`), runs
  /// `collective`, copies `outBytes` back to `out` and waits for all of it.
  template <typename Fn>
  bool staged(const void *in, size_t inBytes, void *out, size_t outBytes,
              const std::string &what, std::string &error, Fn collective,
              size_t inOffset = 0) {
    const Api &a = api();
    auto start = std::chrono::steady_clock::now();
    const size_t need = std::max(inOffset + inBytes, outBytes);
    if (need > capacity_) {
      if (buffer_)
        a.cuMemFree(buffer_);
      buffer_ = 0;
      capacity_ = 0;
      if (CUresult rc = a.cuMemAlloc(&buffer_, need); rc != CUDA_SUCCESS) {
        error = "rank " + std::to_string(rank_) + ": cannot allocate " +
                std::to_string(need) + " bytes on the GPU for " + what +
                ": " + cuError(a, rc);
        return false;
      }
      capacity_ = need;
    }
    CUresult rc = a.cuMemcpyHtoDAsync(buffer_ + inOffset, in, inBytes, stream_);
    if (rc != CUDA_SUCCESS) {
      error = "rank " + std::to_string(rank_) + ": copy to the GPU for " +
              what + ": " + cuError(a, rc);
      return false;
    }
    if (!finish(collective(), what.c_str(), /*streamToo=*/false, start,
                error))
      return false;
    rc = a.cuMemcpyDtoHAsync(out, buffer_, outBytes, stream_);
    if (rc != CUDA_SUCCESS) {
      error = "rank " + std::to_string(rank_) + ": copy from the GPU for " +
              what + ": " + cuError(a, rc);
      return false;
    }
    return finish(ncclSuccess, what.c_str(), /*streamToo=*/true, start, error);
  }

  /// Waits until the communicator (and with `streamToo` the stream) is
  /// done, an error comes, or the deadline passes (the communicator is then
  /// aborted).
  bool finish(ncclResult_t r, const char *what, bool streamToo,
              std::chrono::steady_clock::time_point start,
              std::string &error) {
    using namespace std::chrono;
    const Api &a = api();
    const auto deadline =
        start + duration_cast<steady_clock::duration>(
                    duration<double>(timeoutSeconds()));
    while (true) {
      if (r == ncclInProgress)
        a.commGetAsyncError(comm_, &r);
      if (r != ncclSuccess && r != ncclInProgress) {
        error = "rank " + std::to_string(rank_) + ": NCCL " + what +
                " failed: " + a.getErrorString(r);
        return false;
      }
      bool done = r == ncclSuccess;
      if (done && streamToo) {
        CUresult rc = a.cuStreamQuery(stream_);
        if (rc != CUDA_SUCCESS && rc != CUDA_ERROR_NOT_READY) {
          error = "rank " + std::to_string(rank_) + ": " + what + ": " +
                  cuError(a, rc);
          return false;
        }
        done = rc == CUDA_SUCCESS;
        // An asynchronous NCCL error (a peer gone) shows up here.
        ncclResult_t async = ncclSuccess;
        a.commGetAsyncError(comm_, &async);
        if (async != ncclSuccess && async != ncclInProgress) {
          error = "rank " + std::to_string(rank_) + ": NCCL " + what +
                  " failed: " + a.getErrorString(async);
          return false;
        }
      }
      if (done) {
        commSeconds_ += duration<double>(steady_clock::now() - start).count();
        return true;
      }
      auto now = steady_clock::now();
      if (now > deadline) {
        error = timeoutError(what);
        a.commAbort(comm_);
        comm_ = nullptr;
        return false;
      }
      if (now - start > milliseconds(1))
        std::this_thread::sleep_for(microseconds(50));
    }
  }

  std::shared_ptr<Communicator> bootstrap_;
  int rank_, size_;
  ncclComm_t comm_ = nullptr;
  CUstream stream_ = nullptr;
  CUdeviceptr buffer_ = 0;
  size_t capacity_ = 0;
  bool aborted_ = false;
};

} // namespace

std::unique_ptr<Communicator>
createNcclCommunicator(std::shared_ptr<Communicator> bootstrap, int device,
                       std::string &error) {
  const Api &a = api();
  if (!a.error.empty()) {
    error = "NCCL is unavailable: " + a.error;
    return nullptr;
  }
  const int rank = bootstrap ? bootstrap->rank() : 0;
  const int size = bootstrap ? bootstrap->size() : 1;
  // Rank 0's unique id, with whether it got one: the other ranks learn of
  // a failure there instead of waiting for an id that never comes.
  struct {
    int32_t ok = 1;
    ncclUniqueId id{};
  } hello;
  std::string rootError;
  if (rank == 0) {
    if (ncclResult_t r = a.getUniqueId(&hello.id); r != ncclSuccess) {
      hello.ok = 0;
      rootError = std::string("ncclGetUniqueId failed: ") +
                  a.getErrorString(r);
    }
  }
  if (bootstrap &&
      !bootstrap->broadcast(&hello, sizeof(hello), 0, "NCCL's unique id",
                            error))
    return nullptr;
  if (!hello.ok) {
    error = rank == 0 ? rootError
                      : "rank 0 could not create the NCCL communicator";
    return nullptr;
  }
  const ncclUniqueId &id = hello.id;
  auto comm = std::make_unique<NcclCommunicator>(bootstrap, rank, size);
  if (bootstrap)
    comm->setTimeoutSeconds(bootstrap->timeoutSeconds());
  if (!comm->init(device, id, error))
    return nullptr;
  return comm;
}

} // namespace onebit
