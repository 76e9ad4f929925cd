//===- LayerShape.h - gpu_bench: the layer it measures ----------*- C++ -*-===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_LAYERSHAPE_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_LAYERSHAPE_H

#include <cstdint>
#include <string>

namespace gpubench {

/// Y[M, N] = h ⊙ ((X[M, K] ⊙ g) · S[N, K]^T) (then LayerNorm over N with
/// `normEps` when it is positive), all f16, signs in the canonical layout.
struct LayerShape {
  int64_t m = 1, n = 0, k = 0;
  double normEps = 0; ///< 0: no post-norm (one kernel)
  std::string name = "layer";
};

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_LAYERSHAPE_H
