/*===- CpuKernels.h - CPU kernels for the OneBit 1-bit linear layer -------===
 *
 * The 1-bit linear layer of the OneBit method (docs/kernels.md):
 *
 *   y[m, n] = h[n] * sum_k S[n, k] * (g[k] * x[m, k])
 *   then, when normEps > 0, a parameter-free LayerNorm over the n outputs of
 *   each row, z = (y - mean) / sqrt(var + normEps) (biased variance),
 *   then, when bias is given, + bias[n].
 *
 * S is packed in the canonical layout of onebit/Support/SignPacking.h: n rows
 * of ceil(k/32) uint32 words, column c is bit c%32 of word c/32, bit 1 = -1,
 * bit 0 = +1, padding bits 0.
 *
 * Weight cache: the AVX-512 kernels read S through a preprocessed (row
 * interleaved) copy that is cached, keyed by (signs pointer, n, k) and a
 * fingerprint of sampled words, so compiled models whose signs are constants
 * pay for it once. The cache is thread-safe. A caller that rewrites signs in
 * place at an address it already passed must call
 * onebit_runtime_forget_weights (or disable the cache); the fingerprint only
 * catches most such changes. The cache costs 1 bit per weight (plus row
 * padding to a multiple of 16).
 *
 * This header is plain C/C++ and may be included by code that does not use
 * MLIR; CRunnerUtils.h is MLIR's runtime header for StridedMemRefType.
 *===----------------------------------------------------------------------===*/

#ifndef ONEBIT_RUNTIME_CPUKERNELS_H
#define ONEBIT_RUNTIME_CPUKERNELS_H

#include <stdint.h>

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x: m x k row-major, signs: canonical layout n rows, g: k, h: n, bias: n or
 * NULL, normEps <= 0 means no LayerNorm; y: m x n row-major. */
void onebit_binary_linear_f32(const float *x, int64_t m, int64_t k,
                              const uint32_t *signs, int64_t n,
                              const float *g, const float *h,
                              const float *bias, float normEps, float *y);

/* Weight-only int8 linear: y[i, r] = scales[r] * sum_k x[i, k] * w[r, k]
 * (+ bias[r]); x m x k, w n x k int8 row-major, bias n or NULL, y m x n. */
void onebit_int8_linear_f32(const float *x, int64_t m, int64_t k,
                            const int8_t *w, int64_t n, const float *scales,
                            const float *bias, float *y);

/* Worker threads of the persistent pool; n <= 0 means hardware concurrency. */
void onebit_runtime_set_num_threads(int n);
int onebit_runtime_get_num_threads(void);

/* Kernel modes; they only differ in the decode kernels (m <= 8 activation
 * rows) of AVX2 and of AVX-512 with VBMI + VNNI, everything else is exact.
 *  - INT16 (the default): the 16 signed sums of every 4 activations are
 *    rounded to 16-bit integers with one scale per activation row (two int8
 *    digits in the lookup tables, integer accumulation); about 3e-5 of a
 *    row's largest |output| off on Gaussian activations (docs/kernels.md).
 *  - EXACT computes in FP32 and matches an FP32/FP64 reference to ~1e-6
 *    relative; use it for training and reference checks.
 *  - FAST_APPROX rounds the same sums to int8 (one digit): faster still, but
 *    about 1e-2 of the row's largest |output| off.
 * A NaN or Inf activation gives a NaN output row in every mode.
 * onebit_runtime_has_fast_kernel() tells whether the ISA now in use has the
 * INT16 and FAST_APPROX kernels (without them both compute exactly). */
enum {
  ONEBIT_KERNEL_EXACT = 0,
  ONEBIT_KERNEL_FAST_APPROX = 1,
  ONEBIT_KERNEL_INT16 = 2,
};
/* Returns the previous mode; unknown modes are ignored (returns -1). */
int onebit_runtime_set_kernel_mode(int mode);
int onebit_runtime_get_kernel_mode(void);
/* "exact", "fast", "int16" <-> the modes; -1 / NULL for anything else. */
int onebit_runtime_kernel_mode_from_name(const char *name);
const char *onebit_runtime_kernel_mode_name(int mode);
int onebit_runtime_has_fast_kernel(void);

/* AVX-512: up to this many activation rows m the lookup-table kernels run,
 * above it the FMA GEMM over unpacked +-1 weights (default: always the
 * tables, which measured faster at every m; the tools' ONEBIT_LUT_MAX_M sets
 * it). A negative value restores the default. Returns the previous limit.
 * For tests and benchmarks. */
int64_t onebit_runtime_set_lut_max_m(int64_t m);

/* Instruction set used: 0 scalar, 1 AVX2, 2 AVX-512 (by default the best the
 * CPU has). onebit_runtime_set_isa caps it (for tests and benchmarks, and the
 * tools' ONEBIT_ISA=scalar|avx2|avx512); a level above what the CPU supports
 * is clamped. Returns the level now in use. */
int onebit_runtime_set_isa(int level);
int onebit_runtime_get_isa(void);

/* Weight cache control (see above). */
void onebit_runtime_set_weight_cache(int enabled);
void onebit_runtime_forget_weights(const uint32_t *signs);
void onebit_runtime_clear_weight_cache(void);

/* What MLIR-compiled code calls (func.call to a private declaration marked
 * llvm.emit_c_interface). Any strides are accepted; bias->sizes[0] == 0
 * means no bias. Inconsistent sizes are a compiler bug: the wrapper prints
 * the shapes to stderr and aborts. signs is (n, ceil(k/32)) int32. */
void _mlir_ciface_onebit_binary_linear_f32(
    StridedMemRefType<float, 2> *x, StridedMemRefType<int32_t, 2> *signs,
    StridedMemRefType<float, 1> *g, StridedMemRefType<float, 1> *h,
    StridedMemRefType<float, 1> *bias, float normEps,
    StridedMemRefType<float, 2> *y);
void _mlir_ciface_onebit_int8_linear_f32(StridedMemRefType<float, 2> *x,
                                         StridedMemRefType<int8_t, 2> *w,
                                         StridedMemRefType<float, 1> *scales,
                                         StridedMemRefType<float, 1> *bias,
                                         StridedMemRefType<float, 2> *y);

#ifdef __cplusplus
}
#endif

#endif /* ONEBIT_RUNTIME_CPUKERNELS_H */
