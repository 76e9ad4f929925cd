//===- nccl-check.cpp - The NCCL backend on one GPU -----------------------===//
//
// What scripts/gpu-check.sh runs on a GPU machine for data-parallel training
// (issue 29): a one-rank NCCL communicator on device 0, every collective the
// trainer calls, each checked (one rank's collectives are the identity, the
// all-gathers a copy), and the all-reduce's time for a gradient-sized
// buffer. Plain C++ over the Distributed library's sources: it needs no
// LLVM, so it travels in the GPU bundle. libnccl and libcuda are loaded at
// run time.
//
// usage: nccl-check [--require-gpu] [--floats N]
// Exit status: 0 when every collective checked out, when libnccl is missing
// ("skipped: ..."), or when a driver or a GPU is missing (printed) without
// --require-gpu (ONEBIT_REQUIRE_GPU=1 is the same, as for the other GPU
// checks); 1 otherwise; 2 for bad options.
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace onebit;

namespace {

int fail(const std::string &what) {
  std::printf("FAIL: nccl: %s\n", what.c_str());
  return 1;
}

/// A deterministic pattern no collective of one rank may change.
std::vector<float> pattern(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = float(int64_t(i % 1021) - 510) * 0.125f;
  return v;
}

} // namespace

int main(int argc, char **argv) {
  bool requireGpu = false;
  // 128 MB: the gradients of a model of 32M parameters.
  size_t floats = size_t(32) << 20;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--require-gpu")) {
      requireGpu = true;
    } else if (!std::strcmp(argv[i], "--floats") && i + 1 < argc) {
      char *end = nullptr;
      long long n = std::strtoll(argv[++i], &end, 10);
      if (!end || *end || n < 1 || n > (1ll << 31)) {
        std::fprintf(stderr, "nccl-check: --floats takes 1..2^31, not '%s'\n",
                     argv[i]);
        return 2;
      }
      floats = size_t(n);
    } else {
      std::fprintf(stderr, "usage: nccl-check [--require-gpu] [--floats N]\n");
      return 2;
    }
  }

  if (const char *v = std::getenv("ONEBIT_REQUIRE_GPU"))
    requireGpu |= !std::strcmp(v, "1");
  std::string error;
  std::unique_ptr<Communicator> c =
      createNcclCommunicator(nullptr, /*device=*/0, error);
  if (!c) {
    // NCCL is not part of a GPU machine's driver: without the library there
    // is nothing of ours to check, which is not a failure of the GPU.
    if (error.find("cannot load libnccl.so.2") != std::string::npos) {
      std::printf("skipped: nccl: %s (no NCCL library on this machine)\n",
                  error.c_str());
      return 0;
    }
    std::printf("nccl-check: %s\n", error.c_str());
    if (requireGpu)
      return fail("--require-gpu, but no NCCL communicator: " + error);
    return 0;
  }
  if (std::strcmp(c->backend(), "nccl") || c->rank() != 0 || c->size() != 1)
    return fail("a one-rank communicator says backend " +
                std::string(c->backend()) + ", rank " +
                std::to_string(c->rank()) + " of " + std::to_string(c->size()));

  const std::vector<float> want = pattern(floats);
  std::vector<float> x = want;
  using clock = std::chrono::steady_clock;
  // The first all-reduce sets up NCCL's channels and the staging buffer;
  // the second is the one timed.
  for (int round = 0; round < 2; ++round)
    if (!c->allReduceSum(x.data(), x.size(), "the gradients", error))
      return fail("all-reduce: " + error);
  auto t0 = clock::now();
  if (!c->allReduceSum(x.data(), x.size(), "the gradients", error))
    return fail("all-reduce: " + error);
  const double reduceMs =
      std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  if (x != want)
    return fail("all-reduce over one rank changed the values");

  // Each collective of the buffer in place must leave it as it was.
  auto inPlace = [&](const char *name, auto &&collective) -> int {
    if (!collective())
      return fail(std::string(name) + ": " + error);
    if (x != want)
      return fail(std::string(name) + " over one rank changed the values");
    return 0;
  };
  const size_t lo = floats / 3, hi = floats / 2;
  if (int rc = inPlace("reduce-scatter", [&] {
        return c->reduceScatterSum(x.data(), x.size(), "the shard", error);
      }))
    return rc;
  if (int rc = inPlace("reduce-scatter of a range", [&] {
        return c->reduceScatterRangeSum(x.data(), lo, hi, floats, "a bucket",
                                        error);
      }))
    return rc;
  if (int rc = inPlace("all-gather of blocks", [&] {
        return c->allGatherBlocks(x.data(), x.size(), "the parameters", error);
      }))
    return rc;
  std::vector<float> a(want.begin(), want.begin() + lo),
      b(want.begin() + lo, want.end());
  if (!c->allGatherBlocks({{a.data(), a.size()}, {b.data(), b.size()}},
                          "the parameters in pieces", error))
    return fail("all-gather of pieces: " + error);
  if (!std::equal(a.begin(), a.end(), want.begin()) ||
      !std::equal(b.begin(), b.end(), want.begin() + lo))
    return fail("all-gather of pieces over one rank changed them");
  int64_t step = 1234567;
  if (!c->broadcast(&step, sizeof(step), 0, "the resume step", error) ||
      step != 1234567)
    return fail("broadcast: " + (error.empty() ? "value changed" : error));
  int32_t mine = 77, all = 0;
  if (!c->allGather(&mine, sizeof(mine), &all, "the options check", error) ||
      all != 77)
    return fail("all-gather: " + (error.empty() ? "value changed" : error));

  const double mb = double(floats) * sizeof(float) / 1e6;
  std::printf("ok: nccl one rank on device 0: all-reduce, reduce-scatter "
              "(whole and range), all-gather (blocks, pieces, bytes) and "
              "broadcast are the identity; all-reduce of %.0f MB (host "
              "buffers staged through the device) in %.1f ms, %.2f GB/s\n",
              mb, reduceMs, mb / reduceMs);
  return 0;
}
