/*===- DenseMatmul.h - dense FP32 (batched) GEMM for compiled models ------===
 *
 * What --convert-matmul-to-runtime calls for every f32 linalg contraction
 * (docs/kernels.md, "Dense matmuls"):
 *
 *   for every b0 < B0, b1 < B1:
 *     C[b0, b1] = A[b0, b1] . B[b0, b1] + beta * C[b0, b1]
 *
 * with A [B0, B1, M, K], B [B0, B1, K, N], C [B0, B1, M, N] given as element
 * strides (any values; batch strides of 0 broadcast an operand). beta == 0
 * means C is not read (it may hold garbage or NaN).
 *
 * Accepted layouts, fastest first:
 *  - each matrix of A and B is row-major (unit stride in its last dim) or
 *    column-major (unit stride in its second-to-last dim, i.e. transposed),
 *    with a leading stride at least the row (column) length: passed to
 *    cblas_sgemm as it is;
 *  - C row-major, or column-major (then C^T = B^T A^T is computed);
 *  - anything else (other strides, negative strides) is first copied into a
 *    contiguous buffer (and C copied back).
 * Batches whose B stride is 0 and whose A and C matrices follow each other
 * row-major (the [b, s, k] x [k, n] products of a model) are folded into M,
 * so a whole activation batch is one GEMM.
 *
 * A few rows (M <= 4 after folding; one-row batches with a broadcast B fold
 * too: the query heads of one KV head) run on a built-in kernel that reads B
 * in place, on either backend (decode attention; docs/kernels.md).
 * Backends: OpenBLAS (cblas_sgemm; cblas_sgemv for one row or one column)
 * when the library was built with it (ONEBIT_HAVE_OPENBLAS), else a blocked
 * kernel in plain C++ (compiled for AVX-512, AVX2+FMA and baseline x86-64,
 * picked at load time). Both run on the runtime's thread pool (OpenBLAS is
 * kept single-threaded inside its tasks), so both follow
 * onebit_runtime_set_num_threads.
 *===----------------------------------------------------------------------===*/

#ifndef ONEBIT_RUNTIME_DENSEMATMUL_H
#define ONEBIT_RUNTIME_DENSEMATMUL_H

#include <stdint.h>

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Strides are element strides in the order [b0, b1, row, col]. */
void onebit_matmul_f32(int64_t B0, int64_t B1, int64_t M, int64_t N, int64_t K,
                       const float *a, const int64_t aStrides[4],
                       const float *b, const int64_t bStrides[4], float beta,
                       float *c, const int64_t cStrides[4]);

/* What MLIR-compiled code calls: A [B0, B1, M, K], B [B0, B1, K, N],
 * C [B0, B1, M, N] (any strides). Inconsistent sizes are a compiler bug: the
 * wrapper prints the shapes to stderr and aborts. */
void _mlir_ciface_onebit_matmul_f32(StridedMemRefType<float, 4> *a,
                                    StridedMemRefType<float, 4> *b,
                                    StridedMemRefType<float, 4> *c, float beta);

/* C = A . B + beta * C with B of f16 (IEEE binary16 bits), widened to f32
 * as it is read: the attention products over an f16 KV cache. Products of
 * at most 4 rows with a row-major C read B in place (the decode step);
 * others widen each batch's B into a row-major f32 copy first. */
void onebit_matmul_f32_f16b(int64_t B0, int64_t B1, int64_t M, int64_t N,
                            int64_t K, const float *a,
                            const int64_t aStrides[4], const uint16_t *b,
                            const int64_t bStrides[4], float beta, float *c,
                            const int64_t cStrides[4]);
void _mlir_ciface_onebit_matmul_f32_f16b(StridedMemRefType<float, 4> *a,
                                         StridedMemRefType<uint16_t, 4> *b,
                                         StridedMemRefType<float, 4> *c,
                                         float beta);

/* C = A . sign(W) + beta * C with sign(w) = -1 where w < 0, else +1 (0, -0
 * and NaN give +1): the train step's products with the straight-through sign
 * of its latent weights (--convert-matmul-to-runtime rewrites a contraction
 * with a sign generic's result into this call). W [B0, B1, K, N] takes B's
 * place with any strides. Each call packs sign(W) at 1 bit per weight and
 * runs the exact 1-bit kernels (never FAST_APPROX); below AVX2, or with
 * backend 1 of onebit_runtime_set_sign_matmul_backend, the +-1 matrix goes
 * to onebit_matmul_f32. */
void onebit_sign_matmul_f32(int64_t B0, int64_t B1, int64_t M, int64_t N,
                            int64_t K, const float *a,
                            const int64_t aStrides[4], const float *w,
                            const int64_t wStrides[4], float beta, float *c,
                            const int64_t cStrides[4]);
void _mlir_ciface_onebit_sign_matmul_f32(StridedMemRefType<float, 4> *a,
                                         StridedMemRefType<float, 4> *w,
                                         StridedMemRefType<float, 4> *c,
                                         float beta);

/* Backend of onebit_matmul_f32: 0 the built-in blocked kernel, 1 OpenBLAS
 * (the default when available; the tools' ONEBIT_DENSE_BACKEND=builtin
 * selects 0). A request for OpenBLAS in a build without it gives 0. Returns
 * the previous backend; a negative value only queries. */
int onebit_runtime_set_dense_backend(int backend);
/* Backend of onebit_sign_matmul_f32: 0 the 1-bit kernels (the default; below
 * AVX2 the dense path runs anyway), 1 the +-1 matrix on onebit_matmul_f32
 * (the tools' ONEBIT_SIGN_MATMUL=dense), to compare the two. Other values
 * give 0. Returns the previous backend; a negative value only queries. */
int onebit_runtime_set_sign_matmul_backend(int backend);
/* 1 when the library was built with OpenBLAS. */
int onebit_runtime_have_blas(void);

#ifdef __cplusplus
}
#endif

#endif /* ONEBIT_RUNTIME_DENSEMATMUL_H */
