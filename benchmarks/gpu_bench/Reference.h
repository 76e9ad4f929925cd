//===- Reference.h - gpu_bench: inputs and expected outputs -----*- C++ -*-===//
//
// The host side of gpu_bench's numerics check: f16 conversions, random f16
// inputs of a layer, and the layer's output computed in double from them.
// No CUDA, no MLIR (unittests/GpuBench tests it).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_REFERENCE_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_REFERENCE_H

#include "LayerShape.h"

#include <cstdint>
#include <vector>

namespace gpubench {

/// IEEE binary16 bit patterns; float -> half rounds to nearest even.
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);

/// The layer's inputs on the host: x [M, K], signs [N, words], g [K],
/// h [N] (f16 bit patterns; signs canonical: bit 1 = -1, LSB first).
struct LayerData {
  std::vector<uint16_t> x, g, h;
  std::vector<uint32_t> signs;
  /// Random data: x in [-1, 1), g in [0.5, 1.5), h in [0.5, 1.5) / sqrt(K)
  /// (outputs of order 1), random signs.
  static LayerData random(const LayerShape &s, uint64_t seed);
  float sign(int64_t n, int64_t k, int64_t words) const {
    return (signs[n * words + k / 32] >> (k % 32)) & 1 ? -1.0f : 1.0f;
  }
};

/// Row m of the layer's output in double from the f16 inputs (LayerNorm
/// over N when the shape has one); `scale[n]` = |h[n]| Σ_k |g[k] x[m, k]|,
/// the size the f32 accumulation errors are measured against; `l2[n]` (when
/// given) = |h[n]| sqrt(Σ_k (g[k] x[m, k])²), the size of the error of
/// rounding each g x to f16 (the tensor-core kernel does), which grows like
/// a random walk. Post-norm rows get 1 and 0.
void referenceRow(const LayerShape &s, const LayerData &d, int64_t m,
                  const std::vector<int64_t> &columns,
                  std::vector<double> &out, std::vector<double> &scale,
                  std::vector<double> *l2 = nullptr);

/// gpu-bench's tolerance for one output of a 1-bit layer without post-norm:
/// f16 output rounding (1e-3 |ref|), f32 accumulation (3e-5 scale) and the
/// f16 rounding of g x on tensor cores (relative 2^-11 per term, independent:
/// 6 standard deviations of the sum, 6 2^-11 / sqrt(3) l2 = 1.7e-3 l2).
inline double tolerance(double ref, double scale, double l2) {
  return 1e-3 * (ref < 0 ? -ref : ref) + 3e-5 * scale + 1.7e-3 * l2;
}

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_REFERENCE_H
