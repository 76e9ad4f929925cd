//===- Kernels.h - internal interface of the CPU 1-bit kernels -*- C++ -*-===//
//
// Shared between the dispatcher (CpuKernels.cpp) and the ISA-specific files
// (KernelsAvx512.cpp, KernelsAvx2.cpp, KernelsScalar.cpp), which are compiled
// with their own -m flags. All kernels compute the raw contraction
//   out[m, n] = sum_k S[n, k] * xg[m, k]
// for a range of rows n; h, LayerNorm and bias are applied by the caller.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_LIB_KERNELS_H
#define ONEBIT_RUNTIME_LIB_KERNELS_H

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

// Generic loops compiled three times, for AVX-512, AVX2 + FMA and the
// baseline, the copy picked at load time (ifunc): for code outside the
// ISA-specific files that the compiler vectorizes by itself.
#if defined(__x86_64__) && defined(__ELF__)
#define ONEBIT_ISA_CLONES                                                      \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ONEBIT_ISA_CLONES
#endif

namespace onebit {
namespace rt {

/// Rows of S interleaved 16 at a time: word w of row 16*b + r lives at
/// words[(b * kw + w) * 16 + r]; rows past n are zero (their outputs are
/// computed and dropped).
struct Interleaved16 {
  int64_t n = 0, k = 0, kw = 0, blocks = 0;
  const uint32_t *words = nullptr;
};

/// The activations after g: m rows of kp floats (kp = kw * 32, zero padded),
/// so padding bits (which mean +1) multiply zeros.
struct Activations {
  const float *xg = nullptr;
  int64_t m = 0, k = 0, kp = 0;
};

/// Calls f(std::integral_constant<int, mt>{}) for 1 <= mt <= MaxMT: the
/// lookup-table GEMMs' row tiles are templates on their row count.
template <int MaxMT, typename F> inline void withRowTile(int mt, F &&f) {
  if constexpr (MaxMT > 1) {
    if (mt < MaxMT)
      return withRowTile<MaxMT - 1>(mt, std::forward<F>(f));
  }
  f(std::integral_constant<int, MaxMT>{});
}

/// The lookup-table GEMMs' K chunk (columns) and activation-row tile.
constexpr int64_t kLutGemmKC = 256;
constexpr int kLutGemmMT = 4;

/// The loops the AVX2 and AVX-512 lookup-table GEMMs share, over 16-row
/// weight blocks [b0, b1): K in chunks of kLutGemmKC columns (words
/// [w0, w1)); activation rows in tiles of up to kLutGemmMT, whose tables
/// build(xgRow, w0, w1, table) fills once per chunk (MT x 64 groups x 64
/// bytes = 16 KiB, kept in L1 while the blocks stream past); then for every
/// block tile(mtConstant, tables, b, w0, w1, outRows) adds the chunk to the
/// rows' outputs (storing on the first chunk, w0 == 0). Partial sums live
/// in out. A template, so each ISA file compiles it with its own flags.
template <typename Build, typename Tile>
inline void lutGemmLoops(const Activations &a, const Interleaved16 &w,
                         int64_t b0, int64_t b1, float *out, int64_t ldo,
                         Build &&build, Tile &&tile) {
  constexpr int MT = kLutGemmMT;
  const int64_t wc = kLutGemmKC / 32;
  alignas(64) float tab[MT][kLutGemmKC / 4 * 16];
  const float *t[MT];
  for (int r = 0; r < MT; ++r)
    t[r] = tab[r];
  for (int64_t w0 = 0; w0 < w.kw; w0 += wc) {
    const int64_t w1 = std::min(w.kw, w0 + wc);
    for (int64_t i0 = 0; i0 < a.m; i0 += MT) {
      const int mt = int(std::min<int64_t>(MT, a.m - i0));
      for (int r = 0; r < mt; ++r)
        build(a.xg + (i0 + r) * a.kp, w0, w1, tab[r]);
      for (int64_t b = b0; b < b1; ++b) {
        float *o[MT];
        for (int r = 0; r < mt; ++r)
          o[r] = out + (i0 + r) * ldo + 16 * b;
        withRowTile<MT>(mt, [&](auto tileRows) {
          tile(tileRows, static_cast<const float *const *>(t), b, w0, w1,
               static_cast<float *const *>(o));
        });
      }
    }
  }
}

// Scalar, canonical layout, rows [n0, n1).
void scalarRows(const Activations &a, const uint32_t *signs, int64_t n,
                int64_t n0, int64_t n1, float *out);
// AVX2 + FMA, canonical layout, rows [n0, n1).
void avx2Rows(const Activations &a, const uint32_t *signs, int64_t n,
              int64_t n0, int64_t n1, float *out);

// AVX2 decode: the same lookup tables (16 floats a group, each table held in
// two ymm halves), built by avx2BuildTables; rows in Interleaved16 blocks.
void avx2BuildTables(const Activations &a, float *tables);
void avx2LutBlocks(const Activations &a, const float *tables,
                   const Interleaved16 &w, int64_t b0, int64_t b1, float *out,
                   int64_t ldo);

// AVX2, several activation rows: as avx512LutGemmBlocks (indices shared by
// 4 rows, K chunks of 256 columns with their tables built by the task).
void avx2LutGemmBlocks(const Activations &a, const Interleaved16 &w,
                       int64_t b0, int64_t b1, float *out, int64_t ldo);

// AVX2 FAST_APPROX decode. The weights as nibble planes: for block b, word
// wi and half h, 32 bytes at ((b * kw + wi) * 2 + h) * 32 whose byte r of
// lane 0 holds nibbles 4h and 4h+2 of row 16b+r's word (low, high) and lane 1
// nibbles 4h+1 and 4h+3; 1 bit per weight like Interleaved16. Tables: m *
// (kp / 4) * 16 int8 in group order, scales[i] = the dequantization factor
// of row i (NaN when the row has a NaN or Inf activation).
void avx2PlanesFromInterleaved(const Interleaved16 &w, uint8_t *planes);
void avx2BuildTablesI8(const Activations &a, int8_t *tables, float *scales);
void avx2LutBlocksI8(const Activations &a, const int8_t *tables,
                     const float *scales, const uint8_t *planes, int64_t kw,
                     int64_t n, int64_t b0, int64_t b1, float *out,
                     int64_t ldo);

// AVX-512 decode: lookup tables over groups of 4 activations.
// Exact FP32 tables: m * (kp / 4) * 16 floats, built by avx512BuildTables.
void avx512BuildTables(const Activations &a, float *tables);
void avx512LutBlocks(const Activations &a, const float *tables,
                     const Interleaved16 &w, int64_t b0, int64_t b1,
                     float *out, int64_t ldo);
// Several activation rows (m > 1): nibble indices shared by 4 rows, K walked
// in chunks of 256 columns whose tables (4 rows, 16 KiB) are built by the
// task itself so they stay in L1; partial sums accumulate in out.
void avx512LutGemmBlocks(const Activations &a, const Interleaved16 &w,
                         int64_t b0, int64_t b1, float *out, int64_t ldo);
// Approximate int8 tables: m * (kp / 4) * 16 bytes plus m float scales.
void avx512BuildTablesI8(const Activations &a, int8_t *tables, float *scales);
void avx512LutBlocksI8(const Activations &a, const int8_t *tables,
                       const float *scales, const Interleaved16 &w,
                       int64_t b0, int64_t b1, float *out, int64_t ldo);

// INT16 mode (the default decode kernels, m <= 8): the 16 signed sums of a
// group of 4 activations quantized to 16 bits with one scale per activation
// row (v = round(sum * 32512 / rowMax)) and stored as two int8 digits,
// v = 256 * hi + lo (hi in [-127, 127], lo in [-128, 127]); each digit is
// looked up and summed like the FAST_APPROX tables, and the exact integer
// 256 * sum(hi) + sum(lo) is scaled once per output. Tables: m rows of
// kw * 256 bytes; scales[i] = rowMax / 32512 (NaN for a NaN/Inf row).
constexpr int64_t kI16TableBytesPerWord = 256;
// Largest K the int32 sums hold: groups * 32640 < 2^31.
constexpr int64_t kI16MaxK = 4 * 65536;
// The weights are read in chunks of this many words (1024 columns), whose
// tables stay in L1 while the task's row blocks stream past; the weight copy
// is stored chunk-major so that stream is sequential.
constexpr int64_t kI16ChunkWords = 32;
// The kernels prefetch the weights this many bytes ahead (8 blocks of a
// chunk, 16 KiB) into L2 (prefetcht1): the stream from DRAM is sequential
// within a task. Measured at 1 x 4096 x 14336, AVX-512, 1 thread, streamed:
// 0.74 ms with prefetcht0 4 KiB ahead (L1 miss buffers limit the stream to
// ~10 GB/s), 0.34 ms with this.
constexpr int64_t kI16Prefetch = 8 * kI16ChunkWords * 64;

/// A chunk-major copy of the 16-row-interleaved weights: 64 bytes per (16-row
/// block, word), ordered by chunk of kI16ChunkWords words, then block, then
/// word. The 64 bytes are the 16 words (AVX-512) or their two nibble planes
/// (AVX2, the layout of avx2PlanesFromInterleaved).
struct ChunkedWeights {
  int64_t n = 0, kw = 0, blocks = 0;
  const uint8_t *data = nullptr;
  int64_t chunks() const { return (kw + kI16ChunkWords - 1) / kI16ChunkWords; }
  int64_t chunkWords(int64_t c) const {
    return std::min(kI16ChunkWords, kw - c * kI16ChunkWords);
  }
  const uint8_t *at(int64_t c, int64_t b) const {
    return data + (c * kI16ChunkWords * blocks + b * chunkWords(c)) * 64;
  }
};

void avx2BuildTablesI16(const Activations &a, int8_t *tables, float *scales);
void avx2LutChunkedI16(const Activations &a, const int8_t *tables,
                       const float *scales, const ChunkedWeights &w,
                       int64_t b0, int64_t b1, float *out, int64_t ldo);
void avx512BuildTablesI16(const Activations &a, int8_t *tables,
                          float *scales);
void avx512LutChunkedI16(const Activations &a, const int8_t *tables,
                         const float *scales, const ChunkedWeights &w,
                         int64_t b0, int64_t b1, float *out, int64_t ldo);

// AVX-512 GEMM: A packed once per call, B (the signs) unpacked to +-1 floats
// per thread in panels of 32 columns.
constexpr int kGemmMR = 12, kGemmNR = 32, kGemmKC = 256;
int64_t avx512PackedASize(int64_t m, int64_t kp);
void avx512PackA(const Activations &a, float *packed);
void avx512GemmRows(const Activations &a, const float *packedA,
                    const uint32_t *signs, int64_t n, int64_t n0, int64_t n1,
                    float *bufB, float *out, int64_t ldo);
int64_t avx512GemmBufBSize();

// Weight-only int8 linear (Int8Linear.cpp dispatches): raw contraction
//   out[i, r] = sum_k x[i, k] * W[r, k]     for rows r in [n0, n1)
// with x m x k (row stride k), W n x k int8 row-major, out row stride ldo.
// Scales and bias are applied by the caller.
void scalarInt8Rows(const float *x, int64_t m, int64_t k, const int8_t *w,
                    int64_t n0, int64_t n1, float *out, int64_t ldo);
// AVX2: m <= 2 streams W once for all rows of x (decode); larger m converts
// 16 rows of W at a time to a transposed f32 panel (K x 16, in L1) and runs
// a 6 x 16 FMA micro-kernel over it.
void avx2Int8Rows(const float *x, int64_t m, int64_t k, const int8_t *w,
                  int64_t n0, int64_t n1, float *out, int64_t ldo,
                  float *panel);
constexpr int64_t kInt8PanelRows = 16;

// The int8 decode kernels of the approximate modes (INT16, FAST_APPROX), as
// llama.cpp's q8_0 dot products: the activation row is quantized in blocks
// of 32, xq[i] = round(x[i] / d[b]) with d[b] = max |x| of block b / 127
// (quantizeQ8), and
//   out[r] = sum_b d[b] * sum_{i in b} W[r, i] * xq[i]  +  sum_{i >= 32 nb}
//            x[i] * W[r, i]
// for rows r in [n0, n1), nb = k / 32 whole blocks (the tail stays f32).
// Integer products with AVX2 maddubs (|w| times x with w's sign), on
// AVX-512 machines too: the kernel streams W at the memory's speed (an
// AVX-512 VNNI version measured the same, 0.96 against 0.93 ms for
// 49152 x 576 at one thread on a Zen 4 EPYC).
constexpr int64_t kQ8Block = 32;
void quantizeQ8(const float *x, int64_t k, int8_t *xq, float *d);
void avx2Int8GemvQ8(const int8_t *xq, const float *d, const float *x,
                    int64_t k, const int8_t *w, int64_t n0, int64_t n1,
                    float *out);

// The persistent thread pool (ThreadPool.cpp): fn(i) for i in [0, count),
// the calling thread taking part (used by DenseMatmul.cpp).
void parallelTasks(int64_t count, const std::function<void(int64_t)> &fn);

/// y (m x n, row-major) = LN?((x * g) . S^T * h) + bias for x rows ldx
/// apart and canonical signs S (n rows of ceil(k/32) words, padding bits 0).
/// g or h may be null (no scaling), bias null, eps <= 0 no LayerNorm.
/// cacheable: the signs may be remembered by address (the weight cache);
/// exact: never the FAST_APPROX kernels.
/// The views of C = A . B (A [B0, B1, M, K], B [B0, B1, K, N],
/// C [B0, B1, M, N]) must agree; a mismatch is a compiler bug: `fn`, the
/// size and what it should be are printed and the process aborts.
void checkMatmulViews(const char *fn, const int64_t aSizes[4],
                      const int64_t bSizes[4], const int64_t cSizes[4]);

void binaryLinear(const float *x, int64_t m, int64_t k, int64_t ldx,
                  const uint32_t *signs, int64_t n, const float *g,
                  const float *h, const float *bias, float eps, float *y,
                  bool cacheable, bool exact);
// DenseMatmul.cpp: onebit_runtime_set_num_threads forwards to the BLAS.
void denseSetThreads(int n);

} // namespace rt
} // namespace onebit

#endif // ONEBIT_RUNTIME_LIB_KERNELS_H
