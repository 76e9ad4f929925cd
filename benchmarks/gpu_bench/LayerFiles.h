//===- LayerFiles.h - gpu_bench: a layer and its reference as files -*- C++ -*-===//
//
// --write-layer DIR: the layer gpu_bench measures as MLIR (layer.mlir), its
// inputs as .npy (x, signs, g, h, in @main's argument order), and the host
// reference of every output (ref.npy, f64 [M, N]) with the size errors are
// measured against (scale.npy, l2.npy). test/GPU/gpu-bench-reference.test runs the
// layer through the GPU pipeline's kernels on the host (onebit-run
// --device=gpu-emulation) and compares, so the reference gpu_bench checks
// the GPU against is itself checked against the compiler.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_LAYERFILES_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_LAYERFILES_H

#include "Reference.h"

#include <string>

namespace gpubench {

/// Writes DIR/layer.mlir, x.npy, signs.npy, g.npy, h.npy, ref.npy and
/// scale.npy, l2.npy; false with `error` set when a file cannot be written.
bool writeLayer(const std::string &dir, const LayerShape &shape,
                const LayerData &data, std::string &error);

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_LAYERFILES_H
