//===- DeviceLayer.h - gpu_bench: a compiled layer on the GPU ---*- C++ -*-===//
//
// A KernelPlan made runnable: its kernel modules loaded (the driver JIT-
// compiles the PTX), its buffers allocated in device memory, the memref
// descriptors of each launch laid out as kernel parameters. Weights stay on
// the device; run() launches the plan's kernels on a stream and nothing else
// (no copy, no synchronisation).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_DEVICELAYER_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_DEVICELAYER_H

#include "CudaApi.h"
#include "KernelPlan.h"
#include "Reference.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gpubench {

class DeviceLayer {
public:
  DeviceLayer(Driver &d, CUstream stream) : d(d), stream(stream) {}
  ~DeviceLayer();
  DeviceLayer(const DeviceLayer &) = delete;
  DeviceLayer &operator=(const DeviceLayer &) = delete;

  /// Loads the plan's modules and allocates its buffers. `shared`, when
  /// given, reuses another layer's modules and non-weight buffers (x, y,
  /// scratch): the layers of a model share activations, not weights.
  bool init(const KernelPlan &plan, std::string &error,
            const DeviceLayer *shared = nullptr);
  /// Copies x, signs, g, h to the device.
  bool upload(const LayerData &data, std::string &error);
  /// Fills the weights (signs, g, h) with constants, for layers whose
  /// values do not matter to the timing (the model's other layers).
  bool fillWeights(uint32_t signWord, std::string &error);
  /// Launches the kernels on the stream.
  bool run(std::string &error);
  /// Copies Y [M, N] (f16) back (synchronous).
  bool download(std::vector<uint16_t> &y, std::string &error);
  CUdeviceptr buffer(int argument) const; ///< 0 x, 1 signs, 2 g, 3 h, -1 y
  /// Bytes of the weights (signs, g, h) this layer reads per call.
  int64_t weightBytes() const;

private:
  Driver &d;
  CUstream stream;
  const KernelPlan *plan = nullptr;
  std::vector<CUmodule> modules; ///< owned when not shared
  std::vector<CUfunction> functions;
  std::vector<CUdeviceptr> buffers;
  std::vector<bool> owned;
  std::vector<std::vector<uint64_t>> params;
  std::vector<std::vector<void *>> paramPointers;
};

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_DEVICELAYER_H
