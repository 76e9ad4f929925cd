//===- KernelsAvx512.cpp - AVX-512 kernels for the 1-bit layer ------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma; only called
// after the dispatcher has checked the CPU (CpuKernels.cpp).
//
// Lookup tables (exact FP32): for every group of 4 activations the 16 signed
// sums  sum_j (bit j of e ? -v_j : v_j)  form one zmm register; a 4-bit
// nibble of a weight row indexes it. With the rows interleaved 16 at a time,
// one vpermps looks up 16 rows at once, so a group of 4 columns x 16 rows
// costs an index extraction, a vpermps (table from memory) and an add.
// vpermps reads only the low 4 bits of each 32-bit index, so nibble j of a
// word has to be moved down: nibbles 1-3 of each 16-bit half by a vpmulhuw
// with 2^(16 - 4j) (a multiply, which does not compete with vpermps for the
// shuffle/shift pipes), the upper half by one vpsrld 16 per word.
//
//  - m = 1 (decode): whole-row tables built once, two row blocks share every
//    table load (avx512LutBlocks).
//  - m > 1: the nibble indices of a word serve 4 activation rows; K is walked
//    in chunks of 256 columns whose tables each task builds into L1
//    (avx512LutGemmBlocks).
//  - FMA GEMM (only when the LUT limit is lowered, onebit_runtime_set_lut_max_m):
//    the signs of a 32-row panel are unpacked to +-1.0f for a block of 256
//    columns and a 12x32 register-blocked FMA microkernel runs over packed
//    activations.
//
// docs/kernels.md has the measurements.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <immintrin.h>
#include <algorithm>
#include <cstring>

namespace onebit {
namespace rt {

namespace {
struct SignVectors {
  __m512 s0, s1, s2, s3;
  SignVectors() {
    // sgn_j[e] = bit j of e ? -1 : +1.
    alignas(64) float s[4][16];
    for (int j = 0; j < 4; ++j)
      for (int e = 0; e < 16; ++e)
        s[j][e] = ((e >> j) & 1) ? -1.0f : 1.0f;
    s0 = _mm512_load_ps(s[0]);
    s1 = _mm512_load_ps(s[1]);
    s2 = _mm512_load_ps(s[2]);
    s3 = _mm512_load_ps(s[3]);
  }
};
} // namespace

// Tables of groups [g0, g1) of activation row x into t (16 floats a group).
static inline void buildGroups(const float *x, int64_t g0, int64_t g1,
                               const SignVectors &sv, float *t) {
  for (int64_t gi = g0; gi < g1; ++gi) {
    const float *v = x + 4 * gi;
    __m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(v[1]), sv.s1,
                                _mm512_mul_ps(_mm512_set1_ps(v[0]), sv.s0));
    __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(v[3]), sv.s3,
                                _mm512_mul_ps(_mm512_set1_ps(v[2]), sv.s2));
    _mm512_store_ps(t + 16 * (gi - g0), _mm512_add_ps(lo, hi));
  }
}

void avx512BuildTables(const Activations &a, float *tables) {
  const SignVectors sv;
  const int64_t groups = a.kp / 4;
  for (int64_t i = 0; i < a.m; ++i)
    buildGroups(a.xg + i * a.kp, 0, groups, sv, tables + i * groups * 16);
}

static inline __mmask16 rowMask(int64_t n, int64_t b) {
  int64_t valid = std::min<int64_t>(16, n - 16 * b);
  if (valid <= 0)
    return 0;
  return valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << valid) - 1);
}

// NB row blocks at once share every table load. Accumulator j of a block
// takes nibble j of the words (columns 4j..4j+3 of each 32).
template <int NB>
static inline void lutBlockGroup(const float *t, const uint32_t *const *wb,
                                 int64_t kw, __m512 *sums) {
  __m512 acc[NB][4];
  for (int r = 0; r < NB; ++r)
    for (int j = 0; j < 4; ++j)
      acc[r][j] = _mm512_setzero_ps();
  for (int64_t wi = 0; wi < kw; ++wi) {
    __m512i idx[NB];
    for (int r = 0; r < NB; ++r)
      idx[r] = _mm512_load_si512(wb[r] + wi * 16);
    __m512i hi[NB];
    for (int r = 0; r < NB; ++r)
      hi[r] = _mm512_srli_epi32(idx[r], 16);
    const float *tw = t + wi * 128;
    for (int j = 0; j < 8; ++j) {
      const __m512 tab = _mm512_load_ps(tw + 16 * j);
      for (int r = 0; r < NB; ++r) {
        // vpermps reads only the low 4 bits of each index. Nibbles 1-3 of
        // each 16-bit half are moved down with a multiply-high by
        // 2^(16 - 4j), which runs beside the shuffles instead of competing
        // with them for the shuffle/shift pipes.
        const __m512i src = j < 4 ? idx[r] : hi[r];
        const int s = j & 3;
        const __m512i ij =
            s ? _mm512_mulhi_epu16(src, _mm512_set1_epi16(short(1 << (16 - 4 * s))))
              : src;
        const __m512 v = _mm512_permutexvar_ps(ij, tab);
        acc[r][j & 3] = _mm512_add_ps(acc[r][j & 3], v);
      }
    }
  }
  for (int r = 0; r < NB; ++r)
    sums[r] = _mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]),
                            _mm512_add_ps(acc[r][2], acc[r][3]));
}

void avx512LutBlocks(const Activations &a, const float *tables,
                     const Interleaved16 &w, int64_t b0, int64_t b1,
                     float *out, int64_t ldo) {
  const int64_t kw = w.kw, groups = a.kp / 4;
  constexpr int NB = 2;
  int64_t b = b0;
  for (; b + NB <= b1; b += NB) {
    const uint32_t *wb[NB];
    for (int r = 0; r < NB; ++r)
      wb[r] = w.words + (b + r) * kw * 16;
    for (int64_t i = 0; i < a.m; ++i) {
      __m512 sums[NB];
      lutBlockGroup<NB>(tables + i * groups * 16, wb, kw, sums);
      for (int r = 0; r < NB; ++r)
        _mm512_mask_storeu_ps(out + i * ldo + 16 * (b + r), rowMask(w.n, b + r),
                              sums[r]);
    }
  }
  for (; b < b1; ++b) {
    const uint32_t *wb[1] = {w.words + b * kw * 16};
    for (int64_t i = 0; i < a.m; ++i) {
      __m512 sums[1];
      lutBlockGroup<1>(tables + i * groups * 16, wb, kw, sums);
      _mm512_mask_storeu_ps(out + i * ldo + 16 * b, rowMask(w.n, b), sums[0]);
    }
  }
}

//===----------------------------------------------------------------------===//
// Lookup-table GEMM (m > 1): the nibble indices of a weight word are
// extracted once and serve kLutGemmMT activation rows; K is walked in chunks
// of kLutGemmKC columns (lutGemmLoops in Kernels.h, shared with AVX2).
//===----------------------------------------------------------------------===//


// t[r] holds the tables of words [w0, w1) of activation row r.
template <int MT>
static void lutGemmTile(const float *const *t, const uint32_t *wb, int64_t w0,
                        int64_t w1, float *const *o, __mmask16 mask,
                        bool first) {
  __m512 acc[MT][2];
  for (int r = 0; r < MT; ++r) {
    acc[r][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, o[r]);
    acc[r][1] = _mm512_setzero_ps();
  }
  const __m512i m12 = _mm512_set1_epi16(1 << 12), m8 = _mm512_set1_epi16(1 << 8),
                m4 = _mm512_set1_epi16(1 << 4);
  for (int64_t wi = w0; wi < w1; ++wi) {
    const __m512i idx = _mm512_load_si512(wb + wi * 16);
    const __m512i hi = _mm512_srli_epi32(idx, 16);
    const __m512i n[8] = {idx,
                          _mm512_mulhi_epu16(idx, m12),
                          _mm512_mulhi_epu16(idx, m8),
                          _mm512_mulhi_epu16(idx, m4),
                          hi,
                          _mm512_mulhi_epu16(hi, m12),
                          _mm512_mulhi_epu16(hi, m8),
                          _mm512_mulhi_epu16(hi, m4)};
    for (int r = 0; r < MT; ++r) {
      const float *tw = t[r] + (wi - w0) * 128;
      for (int j = 0; j < 8; ++j)
        acc[r][j & 1] = _mm512_add_ps(
            acc[r][j & 1],
            _mm512_permutexvar_ps(n[j], _mm512_load_ps(tw + 16 * j)));
    }
  }
  for (int r = 0; r < MT; ++r)
    _mm512_mask_storeu_ps(o[r], mask, _mm512_add_ps(acc[r][0], acc[r][1]));
}

void avx512LutGemmBlocks(const Activations &a, const Interleaved16 &w,
                         int64_t b0, int64_t b1, float *out, int64_t ldo) {
  const SignVectors sv;
  lutGemmLoops(
      a, w, b0, b1, out, ldo,
      [&](const float *x, int64_t w0, int64_t w1, float *tab) {
        buildGroups(x, w0 * 8, w1 * 8, sv, tab);
      },
      [&](auto rows, const float *const *t, int64_t b, int64_t w0, int64_t w1,
          float *const *o) {
        lutGemmTile<decltype(rows)::value>(t, w.words + b * w.kw * 16, w0, w1,
                                           o, rowMask(w.n, b), w0 == 0);
      });
}

//===----------------------------------------------------------------------===//
// GEMM
//===----------------------------------------------------------------------===//

constexpr int64_t kGemmNC = 128; // columns of out per call (4 panels)

int64_t avx512GemmBufBSize() { return kGemmNC * kGemmKC; }

int64_t avx512PackedASize(int64_t m, int64_t kp) {
  int64_t mBlocks = (m + kGemmMR - 1) / kGemmMR;
  int64_t kBlocks = (kp + kGemmKC - 1) / kGemmKC;
  return mBlocks * kBlocks * kGemmKC * kGemmMR;
}

// Layout: block (kb, mb) at ((kb * mBlocks + mb) * KC * MR); inside it
// element (k, r) at k * MR + r; rows past m are zero.
void avx512PackA(const Activations &a, float *packed) {
  const int64_t mBlocks = (a.m + kGemmMR - 1) / kGemmMR;
  const int64_t kBlocks = (a.kp + kGemmKC - 1) / kGemmKC;
  for (int64_t kb = 0; kb < kBlocks; ++kb) {
    const int64_t k0 = kb * kGemmKC, kc = std::min<int64_t>(kGemmKC, a.kp - k0);
    for (int64_t mb = 0; mb < mBlocks; ++mb) {
      float *dst = packed + (kb * mBlocks + mb) * kGemmKC * kGemmMR;
      const int64_t r0 = mb * kGemmMR;
      const int64_t mr = std::min<int64_t>(kGemmMR, a.m - r0);
      for (int64_t r = 0; r < kGemmMR; ++r) {
        if (r < mr) {
          const float *src = a.xg + (r0 + r) * a.kp + k0;
          for (int64_t k = 0; k < kc; ++k)
            dst[k * kGemmMR + r] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k)
            dst[k * kGemmMR + r] = 0.0f;
        }
      }
    }
  }
}

// Unpacks rows [r0, r0 + 32) x columns [k0, k0 + kc) of S into
// dst[k * 32 + r] = +-1.0f (rows past n read as +1; their outputs are
// dropped).
static void unpackPanel(const uint32_t *signs, int64_t n, int64_t kw,
                        int64_t r0, int64_t k0, int64_t kc, float *dst) {
  const __m512 plus = _mm512_set1_ps(1.0f), minus = _mm512_set1_ps(-1.0f);
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                        4, 3, 2, 1, 0);
  const __mmask16 m0 = rowMask(n - r0, 0), m1 = rowMask(n - r0 - 16, 0);
  const __m512i vindex = _mm512_mullo_epi32(lane, _mm512_set1_epi32(int(kw)));
  const uint32_t *base0 = signs + r0 * kw;
  const uint32_t *base1 = signs + std::min<int64_t>(r0 + 16, n) * kw;
  for (int64_t w = 0; w < kc / 32; ++w) {
    const int64_t wi = k0 / 32 + w;
    __m512i v0 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m0,
                                             vindex, base0 + wi, 4);
    __m512i v1 = m1 ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m1,
                                                  vindex, base1 + wi, 4)
                    : _mm512_setzero_si512();
    __m512i bit = _mm512_set1_epi32(1);
    float *d = dst + w * 32 * 32;
    for (int j = 0; j < 32; ++j) {
      __mmask16 n0 = _mm512_test_epi32_mask(v0, bit);
      __mmask16 n1 = _mm512_test_epi32_mask(v1, bit);
      _mm512_store_ps(d + j * 32, _mm512_mask_blend_ps(n0, plus, minus));
      _mm512_store_ps(d + j * 32 + 16, _mm512_mask_blend_ps(n1, plus, minus));
      bit = _mm512_slli_epi32(bit, 1);
    }
  }
}

template <int MR>
static void microKernel(int64_t kc, const float *A, const float *B, float *C,
                        int64_t ldc, __mmask16 c0, __mmask16 c1,
                        bool accumulate) {
  __m512 acc[MR][2];
  for (int i = 0; i < MR; ++i)
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(B + k * 32);
    const __m512 b1 = _mm512_load_ps(B + k * 32 + 16);
    const float *ak = A + k * kGemmMR;
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(ak[i]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float *c = C + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(c0, c));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(c1, c + 16));
    }
    _mm512_mask_storeu_ps(c, c0, acc[i][0]);
    _mm512_mask_storeu_ps(c + 16, c1, acc[i][1]);
  }
}

using MicroKernelFn = void (*)(int64_t, const float *, const float *, float *,
                               int64_t, __mmask16, __mmask16, bool);
static const MicroKernelFn kMicroKernels[kGemmMR + 1] = {
    nullptr,         microKernel<1>,  microKernel<2>, microKernel<3>,
    microKernel<4>,  microKernel<5>,  microKernel<6>, microKernel<7>,
    microKernel<8>,  microKernel<9>,  microKernel<10>, microKernel<11>,
    microKernel<12>};

void avx512GemmRows(const Activations &a, const float *packedA,
                    const uint32_t *signs, int64_t n, int64_t n0, int64_t n1,
                    float *bufB, float *out, int64_t ldo) {
  const int64_t kw = a.kp / 32;
  const int64_t mBlocks = (a.m + kGemmMR - 1) / kGemmMR;
  for (int64_t c0 = n0; c0 < n1; c0 += kGemmNC) {
    const int64_t c1 = std::min(n1, c0 + kGemmNC);
    const int64_t panels = (c1 - c0 + kGemmNR - 1) / kGemmNR;
    for (int64_t k0 = 0, kb = 0; k0 < a.kp; k0 += kGemmKC, ++kb) {
      const int64_t kc = std::min<int64_t>(kGemmKC, a.kp - k0);
      for (int64_t p = 0; p < panels; ++p)
        unpackPanel(signs, n, kw, c0 + p * kGemmNR, k0, kc,
                    bufB + p * kGemmKC * kGemmNR);
      for (int64_t mb = 0; mb < mBlocks; ++mb) {
        const float *A = packedA + (kb * mBlocks + mb) * kGemmKC * kGemmMR;
        const int64_t mr = std::min<int64_t>(kGemmMR, a.m - mb * kGemmMR);
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t col = c0 + p * kGemmNR;
          const __mmask16 m0 = rowMask(c1 - col, 0);
          const __mmask16 m1 = rowMask(c1 - col - 16, 0);
          kMicroKernels[mr](kc, A, bufB + p * kGemmKC * kGemmNR,
                            out + mb * kGemmMR * ldo + col, ldo, m0, m1,
                            k0 > 0);
        }
      }
    }
  }
}

} // namespace rt
} // namespace onebit
