//===- KernelsAvx2.cpp - AVX2 kernels for the 1-bit layer -----------------===//
//
// Compiled with -mavx2 -mfma. A sign flip per 8 columns: broadcast the word,
// test one bit per lane, move it to the float sign bit and xor it into the
// activations. Rows are taken 4 at a time so each activation load serves 4
// rows. Used on CPUs without AVX-512.
//
// Decode (few activation rows): lookup tables over groups of 4 activations,
// as the AVX-512 kernel, with each 16-entry FP32 table in two ymm halves:
// two vpermps pick entries (index & 7) from both halves and a blend on bit 3
// of the index chooses between them (avx2LutBlocks).
//
// Several activation rows (m > 2): a K-chunked lookup-table GEMM whose
// index work is shared by 4 rows, with tables split into 8 entries and a
// +-v3 term so a lookup is one vpermps, an add and an FMA
// (avx2LutGemmBlocks).
//
// FAST_APPROX decode: the same tables quantized to int8 (one scale per
// activation row), two groups' tables per ymm (one per 128-bit lane), looked
// up 32 at a time with vpshufb from a nibble-plane copy of the weights
// (avx2PlanesFromInterleaved); vpmaddubsw adds each row's pair of lookups
// into int16 lanes, flushed to int32 every 64 words (avx2LutBlocksI8).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <immintrin.h>
#include <algorithm>
#include <limits>
#include <vector>

namespace onebit {
namespace rt {


static inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

// Sign masks (0x80000000 where the bit is set) for the 8 bits of byte b.
static inline __m256 signMask(uint32_t word, int b, __m256i bitsLo) {
  __m256i v = _mm256_set1_epi32(int(word >> (8 * b)));
  __m256i t = _mm256_cmpeq_epi32(_mm256_and_si256(v, bitsLo), bitsLo);
  return _mm256_castsi256_ps(_mm256_slli_epi32(t, 31));
}

void avx2Rows(const Activations &a, const uint32_t *signs, int64_t n,
              int64_t n0, int64_t n1, float *out) {
  const int64_t kw = a.kp / 32;
  const __m256i bitsLo = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  int64_t r = n0;
  for (; r + 4 <= n1; r += 4) {
    const uint32_t *w0 = signs + r * kw, *w1 = w0 + kw, *w2 = w1 + kw,
                   *w3 = w2 + kw;
    for (int64_t i = 0; i < a.m; ++i) {
      const float *x = a.xg + i * a.kp;
      __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(),
             c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
      for (int64_t w = 0; w < kw; ++w) {
        for (int b = 0; b < 4; ++b) {
          __m256 xv = _mm256_loadu_ps(x + w * 32 + 8 * b);
          c0 = _mm256_add_ps(c0, _mm256_xor_ps(xv, signMask(w0[w], b, bitsLo)));
          c1 = _mm256_add_ps(c1, _mm256_xor_ps(xv, signMask(w1[w], b, bitsLo)));
          c2 = _mm256_add_ps(c2, _mm256_xor_ps(xv, signMask(w2[w], b, bitsLo)));
          c3 = _mm256_add_ps(c3, _mm256_xor_ps(xv, signMask(w3[w], b, bitsLo)));
        }
      }
      out[i * n + r] = hsum(c0);
      out[i * n + r + 1] = hsum(c1);
      out[i * n + r + 2] = hsum(c2);
      out[i * n + r + 3] = hsum(c3);
    }
  }
  for (; r < n1; ++r) {
    const uint32_t *w0 = signs + r * kw;
    for (int64_t i = 0; i < a.m; ++i) {
      const float *x = a.xg + i * a.kp;
      __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
      for (int64_t w = 0; w < kw; ++w) {
        c0 = _mm256_add_ps(c0, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32),
                                             signMask(w0[w], 0, bitsLo)));
        c1 = _mm256_add_ps(c1, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32 + 8),
                                             signMask(w0[w], 1, bitsLo)));
        c0 = _mm256_add_ps(c0, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32 + 16),
                                             signMask(w0[w], 2, bitsLo)));
        c1 = _mm256_add_ps(c1, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32 + 24),
                                             signMask(w0[w], 3, bitsLo)));
      }
      out[i * n + r] = hsum(_mm256_add_ps(c0, c1));
    }
  }
}

//===----------------------------------------------------------------------===//
// Lookup tables
//===----------------------------------------------------------------------===//

namespace {
// Entry e of a group's table is sum_j (bit j of e ? -v[j] : v[j]). A ymm
// holds 8 entries: low3(v) gives entries 0..7 without v[3] (bit 3 of e),
// every table builder below adds or subtracts v[3] its own way.
struct Low3Signs {
  __m256 s0, s1, s2;
  Low3Signs() {
    alignas(32) float s[3][8];
    for (int j = 0; j < 3; ++j)
      for (int e = 0; e < 8; ++e)
        s[j][e] = ((e >> j) & 1) ? -1.0f : 1.0f;
    s0 = _mm256_load_ps(s[0]);
    s1 = _mm256_load_ps(s[1]);
    s2 = _mm256_load_ps(s[2]);
  }
  __m256 low3(const float *v) const {
    return _mm256_fmadd_ps(
        _mm256_set1_ps(v[2]), s2,
        _mm256_fmadd_ps(_mm256_set1_ps(v[1]), s1,
                        _mm256_mul_ps(_mm256_set1_ps(v[0]), s0)));
  }
};
} // namespace

void avx2BuildTables(const Activations &a, float *tables) {
  const Low3Signs ls;
  const int64_t groups = a.kp / 4;
  for (int64_t i = 0; i < a.m; ++i) {
    const float *x = a.xg + i * a.kp;
    float *t = tables + i * groups * 16;
    for (int64_t gi = 0; gi < groups; ++gi) {
      const float *v = x + 4 * gi;
      const __m256 low3 = ls.low3(v);
      const __m256 v3 = _mm256_set1_ps(v[3]);
      _mm256_store_ps(t + 16 * gi, _mm256_add_ps(low3, v3));
      _mm256_store_ps(t + 16 * gi + 8, _mm256_sub_ps(low3, v3));
    }
  }
}

// Entry (index & 15) of the 16-float table {lo, hi} for 8 lanes.
static inline __m256 lookup16(__m256 lo, __m256 hi, __m256i index) {
  __m256 a = _mm256_permutevar8x32_ps(lo, index);
  __m256 b = _mm256_permutevar8x32_ps(hi, index);
  return _mm256_blendv_ps(a, b,
                          _mm256_castsi256_ps(_mm256_slli_epi32(index, 28)));
}

void avx2LutBlocks(const Activations &a, const float *tables,
                   const Interleaved16 &w, int64_t b0, int64_t b1, float *out,
                   int64_t ldo) {
  const int64_t kw = w.kw, groups = a.kp / 4;
  for (int64_t b = b0; b < b1; ++b) {
    const uint32_t *wb = w.words + b * kw * 16;
    const int64_t valid = std::min<int64_t>(16, w.n - 16 * b);
    for (int64_t i = 0; i < a.m; ++i) {
      const float *t = tables + i * groups * 16;
      // acc[h][p]: rows 8h..8h+7, nibbles of parity p.
      __m256 acc[2][2] = {{_mm256_setzero_ps(), _mm256_setzero_ps()},
                          {_mm256_setzero_ps(), _mm256_setzero_ps()}};
      for (int64_t wi = 0; wi < kw; ++wi) {
        const __m256i idx[2] = {
            _mm256_load_si256(reinterpret_cast<const __m256i *>(wb + wi * 16)),
            _mm256_load_si256(
                reinterpret_cast<const __m256i *>(wb + wi * 16 + 8))};
        const __m256i hi[2] = {_mm256_srli_epi32(idx[0], 16),
                               _mm256_srli_epi32(idx[1], 16)};
        const float *tw = t + wi * 128;
        for (int j = 0; j < 8; ++j) {
          const __m256 tlo = _mm256_load_ps(tw + 16 * j),
                       thi = _mm256_load_ps(tw + 16 * j + 8);
          const int sh = j & 3;
          for (int h = 0; h < 2; ++h) {
            // Nibble sh of each 16-bit half moved to the low bits with a
            // multiply-high (only the low 4 bits of a lane are used).
            const __m256i src = j < 4 ? idx[h] : hi[h];
            const __m256i ij =
                sh ? _mm256_mulhi_epu16(
                         src, _mm256_set1_epi16(short(1 << (16 - 4 * sh))))
                   : src;
            acc[h][j & 1] =
                _mm256_add_ps(acc[h][j & 1], lookup16(tlo, thi, ij));
          }
        }
      }
      alignas(32) float sums[16];
      _mm256_store_ps(sums, _mm256_add_ps(acc[0][0], acc[0][1]));
      _mm256_store_ps(sums + 8, _mm256_add_ps(acc[1][0], acc[1][1]));
      for (int64_t r = 0; r < valid; ++r)
        out[i * ldo + 16 * b + r] = sums[r];
    }
  }
}

// ---- Lookup-table GEMM (m > 1) ---------------------------------------------
//
// As avx512LutGemmBlocks: the nibble indices of a weight word are computed
// once and serve kLutGemmMT activation rows; K is walked in chunks of
// kLutGemmKC columns (lutGemmLoops in Kernels.h, shared with AVX-512).
//
// The tables are split differently from the decode kernel's: entry e of a
// group is L[e & 7] + s * v3, with L the 8 signed sums of v0..v2 and s = -1
// when bit 3 of e is set. A group's 16 floats are L and v3 broadcast. Per
// index vector (shared by the rows) s is made once as +-1.0f from bit 3;
// per row a lookup is then one vpermps, one add and one FMA (both tables as
// memory operands), against two vpermps, a blend and an add: half the
// shuffles, the rest on other pipes. Each half of the 16
// weight rows is done in turn so the accumulators stay in registers.

// Split tables of groups [0, groups) of x into t (16 floats a group).
static void buildSplitTables(const Low3Signs &ls, const float *x,
                             int64_t groups, float *t) {
  for (int64_t gi = 0; gi < groups; ++gi) {
    const float *v = x + 4 * gi;
    _mm256_store_ps(t + 16 * gi, ls.low3(v));
    _mm256_store_ps(t + 16 * gi + 8, _mm256_set1_ps(v[3]));
  }
}

// t[r] holds the tables of words [w0, w1) of activation row r.
template <int MT>
static void avx2LutGemmTile(const float *const *t, const uint32_t *wb,
                            int64_t w0, int64_t w1, float *const *o,
                            int64_t valid, bool first) {
  const __m256i signBit = _mm256_set1_epi32(int(0x80000000u));
  const __m256i one = _mm256_castps_si256(_mm256_set1_ps(1.0f));
  // One half of the 16 weight rows at a time (rows 8h..8h+7), so that only
  // 2 x MT accumulators are live: the lookups (adds) and the v3 terms
  // (FMAs) in separate chains.
  for (int h = 0; h < 2; ++h) {
    __m256 lut[MT], v3s[MT];
    for (int r = 0; r < MT; ++r)
      lut[r] = v3s[r] = _mm256_setzero_ps();
    for (int64_t wi = w0; wi < w1; ++wi) {
      const __m256i lo =
          _mm256_load_si256(reinterpret_cast<const __m256i *>(wb + wi * 16) + h);
      const __m256i hi = _mm256_srli_epi32(lo, 16);
      for (int j = 0; j < 8; ++j) {
        const int sh = j & 3;
        const __m256i v = j < 4 ? lo : hi;
        // Nibble sh of each 16-bit half down to bits 0..3 with a
        // multiply-high (vpermps reads bits 0..2; bit 3 becomes the sign).
        const __m256i ij =
            sh ? _mm256_mulhi_epu16(
                     v, _mm256_set1_epi16(short(1 << (16 - 4 * sh))))
               : v;
        const __m256 sg = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_and_si256(_mm256_slli_epi32(ij, 28), signBit), one));
        for (int r = 0; r < MT; ++r) {
          const float *tw = t[r] + (wi - w0) * 128 + 16 * j;
          lut[r] = _mm256_add_ps(
              lut[r], _mm256_permutevar8x32_ps(_mm256_load_ps(tw), ij));
          v3s[r] = _mm256_fmadd_ps(sg, _mm256_load_ps(tw + 8), v3s[r]);
        }
      }
    }
    const int64_t rows = std::min<int64_t>(8, valid - 8 * h);
    for (int r = 0; r < MT; ++r) {
      alignas(32) float sums[8];
      _mm256_store_ps(sums, _mm256_add_ps(lut[r], v3s[r]));
      float *dst = o[r] + 8 * h;
      if (first)
        for (int64_t q = 0; q < rows; ++q)
          dst[q] = sums[q];
      else
        for (int64_t q = 0; q < rows; ++q)
          dst[q] += sums[q];
    }
  }
}

void avx2LutGemmBlocks(const Activations &a, const Interleaved16 &w,
                       int64_t b0, int64_t b1, float *out, int64_t ldo) {
  const Low3Signs ls;
  lutGemmLoops(
      a, w, b0, b1, out, ldo,
      [&](const float *x, int64_t w0, int64_t w1, float *tab) {
        buildSplitTables(ls, x + w0 * 32, (w1 - w0) * 8, tab);
      },
      [&](auto rows, const float *const *t, int64_t b, int64_t w0, int64_t w1,
          float *const *o) {
        const int64_t valid = std::min<int64_t>(16, w.n - 16 * b);
        avx2LutGemmTile<decltype(rows)::value>(t, w.words + b * w.kw * 16, w0,
                                               w1, o, valid, w0 == 0);
      });
}

// ---- FAST_APPROX: int8 tables looked up with vpshufb ------------------------

void avx2PlanesFromInterleaved(const Interleaved16 &w, uint8_t *planes) {
  const int64_t kw = w.kw;
  for (int64_t b = 0; b < w.blocks; ++b)
    for (int64_t wi = 0; wi < kw; ++wi)
      for (int64_t r = 0; r < 16; ++r) {
        const uint32_t u = w.words[(b * kw + wi) * 16 + r];
        for (int h = 0; h < 2; ++h) {
          auto nib = [&](int j) { return (u >> (4 * (4 * h + j))) & 15u; };
          uint8_t *p = planes + ((b * kw + wi) * 2 + h) * 32;
          p[r] = uint8_t(nib(0) | nib(2) << 4);
          p[16 + r] = uint8_t(nib(1) | nib(3) << 4);
        }
      }
}

void avx2BuildTablesI8(const Activations &a, int8_t *tables, float *scales) {
  const Low3Signs ls;
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // Entries 0..7 (bit 3 clear: +v3) and 8..15 of group gi's table.
  auto entries = [&](const float *v, __m256 &lo, __m256 &hi) {
    const __m256 low3 = ls.low3(v);
    const __m256 v3 = _mm256_set1_ps(v[3]);
    lo = _mm256_add_ps(low3, v3);
    hi = _mm256_sub_ps(low3, v3);
  };
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const int64_t groups = a.kp / 4; // a multiple of 8
  for (int64_t i = 0; i < a.m; ++i) {
    const float *x = a.xg + i * a.kp;
    // Pass 1: the largest |entry| (computed from the entries themselves, so
    // both passes agree bit for bit) and whether any entry is NaN or Inf.
    __m256 vmax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int64_t gi = 0; gi < groups; ++gi) {
      __m256 lo, hi;
      entries(x + 4 * gi, lo, hi);
      vmax = _mm256_max_ps(vmax, _mm256_max_ps(_mm256_and_ps(lo, absMask),
                                               _mm256_and_ps(hi, absMask)));
      // x - x is NaN exactly for NaN and +-Inf.
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(lo, lo),
                                            _mm256_sub_ps(lo, lo),
                                            _CMP_UNORD_Q));
    }
    alignas(32) float m8[8];
    _mm256_store_ps(m8, vmax);
    float maxSum = 0.0f;
    for (float v : m8)
      maxSum = std::max(maxSum, v);
    const bool finite = _mm256_movemask_ps(bad) == 0;
    const float q = finite && maxSum > 0.0f ? 127.0f / maxSum : 0.0f;
    // A non-finite activation makes the whole output row NaN (0 * NaN), as
    // the exact kernels would, instead of silently quantizing it away.
    scales[i] = !finite ? std::numeric_limits<float>::quiet_NaN()
                        : maxSum > 0.0f ? maxSum / 127.0f : 0.0f;
    const __m256 vq = _mm256_set1_ps(q);
    int8_t *t = tables + i * groups * 16;
    // Two groups at a time: 4 x 8 int32 -> 32 int8 (saturating packs work
    // per 128-bit lane, `order` puts the 4-byte pieces back in place).
    // Rounding is to nearest even (MXCSR default).
    for (int64_t gi = 0; gi < groups; gi += 2) {
      __m256 alo, ahi, blo, bhi;
      entries(x + 4 * gi, alo, ahi);
      entries(x + 4 * gi + 4, blo, bhi);
      __m256i pa = _mm256_packs_epi32(
          _mm256_cvtps_epi32(_mm256_mul_ps(alo, vq)),
          _mm256_cvtps_epi32(_mm256_mul_ps(ahi, vq)));
      __m256i pb = _mm256_packs_epi32(
          _mm256_cvtps_epi32(_mm256_mul_ps(blo, vq)),
          _mm256_cvtps_epi32(_mm256_mul_ps(bhi, vq)));
      __m256i p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(pa, pb),
                                              order);
      _mm256_store_si256(reinterpret_cast<__m256i *>(t + 16 * gi), p);
    }
  }
}

// Flush the int16 accumulators to int32 every this many weight words: each
// word adds at most 2 x (127 + 127) to a 16-bit lane.
constexpr int64_t kI8FlushWords = 64;

void avx2LutBlocksI8(const Activations &a, const int8_t *tables,
                     const float *scales, const uint8_t *planes, int64_t kw,
                     int64_t n, int64_t b0, int64_t b1, float *out,
                     int64_t ldo) {
  const int64_t groups = a.kp / 4;
  const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi8(1);
  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t *pb = planes + b * kw * 64;
    const int64_t valid = std::min<int64_t>(16, n - 16 * b);
    for (int64_t i = 0; i < a.m; ++i) {
      const int8_t *t = tables + i * groups * 16;
      // acc32[q]: rows 8q..8q+7.
      __m256i acc32[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      for (int64_t w0 = 0; w0 < kw; w0 += kI8FlushWords) {
        const int64_t w1 = std::min(kw, w0 + kI8FlushWords);
        // acc16[q]: lane 0 rows 8q..8q+7 (groups 4c, 4c+2), lane 1 the same
        // rows (groups 4c+1, 4c+3).
        __m256i acc16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int64_t wi = w0; wi < w1; ++wi) {
          for (int h = 0; h < 2; ++h) {
            const __m256i idx = _mm256_load_si256(
                reinterpret_cast<const __m256i *>(pb + (wi * 2 + h) * 32));
            const __m256i lo = _mm256_and_si256(idx, low4);
            const __m256i hi =
                _mm256_and_si256(_mm256_srli_epi16(idx, 4), low4);
            const int8_t *tw = t + (8 * wi + 4 * h) * 16;
            const __m256i la = _mm256_shuffle_epi8(
                _mm256_load_si256(reinterpret_cast<const __m256i *>(tw)), lo);
            const __m256i lb = _mm256_shuffle_epi8(
                _mm256_load_si256(reinterpret_cast<const __m256i *>(tw + 32)),
                hi);
            acc16[0] = _mm256_add_epi16(
                acc16[0],
                _mm256_maddubs_epi16(ones, _mm256_unpacklo_epi8(la, lb)));
            acc16[1] = _mm256_add_epi16(
                acc16[1],
                _mm256_maddubs_epi16(ones, _mm256_unpackhi_epi8(la, lb)));
          }
        }
        for (int q = 0; q < 2; ++q)
          acc32[q] = _mm256_add_epi32(
              acc32[q],
              _mm256_add_epi32(
                  _mm256_cvtepi16_epi32(_mm256_castsi256_si128(acc16[q])),
                  _mm256_cvtepi16_epi32(
                      _mm256_extracti128_si256(acc16[q], 1))));
      }
      const __m256 sc = _mm256_set1_ps(scales[i]);
      alignas(32) float sums[16];
      _mm256_store_ps(sums, _mm256_mul_ps(_mm256_cvtepi32_ps(acc32[0]), sc));
      _mm256_store_ps(sums + 8,
                      _mm256_mul_ps(_mm256_cvtepi32_ps(acc32[1]), sc));
      for (int64_t r = 0; r < valid; ++r)
        out[i * ldo + 16 * b + r] = sums[r];
    }
  }
}

// ---- INT16 mode: two int8 digits per table entry ---------------------------

void avx2BuildTablesI16(const Activations &a, int8_t *tables, float *scales) {
  const Low3Signs ls;
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  auto entries = [&](const float *v, __m256 &lo, __m256 &hi) {
    const __m256 low3 = ls.low3(v);
    const __m256 v3 = _mm256_set1_ps(v[3]);
    lo = _mm256_add_ps(low3, v3);
    hi = _mm256_sub_ps(low3, v3);
  };
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i half = _mm256_set1_epi32(128);
  const int64_t groups = a.kp / 4, kw = a.kp / 32;
  for (int64_t i = 0; i < a.m; ++i) {
    const float *x = a.xg + i * a.kp;
    // The largest |entry| of a group is sum_j |v_j| (see
    // avx512BuildTablesI16): 2 groups a vector.
    __m256 vmax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int64_t c = 0; c < a.kp; c += 8) {
      __m256 v = _mm256_and_ps(_mm256_loadu_ps(x + c), absMask);
      v = _mm256_add_ps(v, _mm256_permute_ps(v, 0xB1));
      v = _mm256_add_ps(v, _mm256_permute_ps(v, 0x4E));
      vmax = _mm256_max_ps(vmax, v);
      const __m256 d = _mm256_sub_ps(v, v);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(d, d, _CMP_UNORD_Q));
    }
    alignas(32) float m8[8];
    _mm256_store_ps(m8, vmax);
    float maxSum = 0.0f;
    for (float v : m8)
      maxSum = std::max(maxSum, v);
    const bool finite = _mm256_movemask_ps(bad) == 0;
    const float q = finite && maxSum > 0.0f ? 32512.0f / maxSum : 0.0f;
    scales[i] = !finite ? std::numeric_limits<float>::quiet_NaN()
                        : maxSum > 0.0f ? maxSum / 32512.0f : 0.0f;
    const __m256 vq = _mm256_set1_ps(q);
    int8_t *t = tables + i * kw * kI16TableBytesPerWord;
    // v = round(entry * q) in [-32512, 32512] = 256 * hi + lo (see
    // avx512BuildTablesI16). Group 8 * wi + 4 * h + j: high digits at
    // wi * 256 + h * 128 + 16 * j, low digits 64 bytes further.
    auto digits = [&](__m256 e, __m256i &hi, __m256i &lo) {
      const __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(e, vq));
      hi = _mm256_srai_epi32(_mm256_add_epi32(v, half), 8);
      lo = _mm256_sub_epi32(v, _mm256_slli_epi32(hi, 8));
    };
    for (int64_t gi = 0; gi < groups; gi += 2) {
      __m256 alo, ahi, blo, bhi;
      entries(x + 4 * gi, alo, ahi);
      entries(x + 4 * gi + 4, blo, bhi);
      __m256i h0, l0, h1, l1, h2, l2, h3, l3;
      digits(alo, h0, l0);
      digits(ahi, h1, l1);
      digits(blo, h2, l2);
      digits(bhi, h3, l3);
      const __m256i ph = _mm256_permutevar8x32_epi32(
          _mm256_packs_epi16(_mm256_packs_epi32(h0, h1),
                             _mm256_packs_epi32(h2, h3)),
          order);
      const __m256i pl = _mm256_permutevar8x32_epi32(
          _mm256_packs_epi16(_mm256_packs_epi32(l0, l1),
                             _mm256_packs_epi32(l2, l3)),
          order);
      const int64_t wi = gi >> 3, h = (gi >> 2) & 1, j = gi & 3;
      int8_t *d = t + wi * kI16TableBytesPerWord + h * 128 + 16 * j;
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(d), ph);
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(d + 64), pl);
    }
  }
}

// MT activation rows of one 16-row block over the cw words of a chunk (at
// most kI16ChunkWords = 32, so the int16 sums stay within 32 * 2 * 2 * 128 =
// 16384);
// adds 256 * sum(hi) + sum(lo) of each row to part[r * 16 ..].
template <int MT>
static inline void i16TileAvx2(const int8_t *const *tab, const uint8_t *wp,
                               int64_t cw, int32_t *part) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi8(1);
  // acc[r][0..1]: high digits, rows 0..7 / 8..15 of the block (each 128-bit
  // lane one pair of groups); acc[r][2..3]: low digits.
  __m256i acc[MT][4];
  for (int r = 0; r < MT; ++r)
    for (int d = 0; d < 4; ++d)
      acc[r][d] = _mm256_setzero_si256();
  for (int64_t j = 0; j < cw; ++j) {
    _mm_prefetch(reinterpret_cast<const char *>(wp + j * 64 + kI16Prefetch),
                 _MM_HINT_T1);
    for (int h = 0; h < 2; ++h) {
      const __m256i idx = _mm256_loadu_si256(
          reinterpret_cast<const __m256i *>(wp + j * 64 + h * 32));
      const __m256i lo = _mm256_and_si256(idx, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(idx, 4), low4);
      for (int r = 0; r < MT; ++r) {
        const int8_t *t = tab[r] + j * kI16TableBytesPerWord + h * 128;
        for (int d = 0; d < 2; ++d) {
          const __m256i la = _mm256_shuffle_epi8(
              _mm256_loadu_si256(
                  reinterpret_cast<const __m256i *>(t + 64 * d)),
              lo);
          const __m256i lb = _mm256_shuffle_epi8(
              _mm256_loadu_si256(
                  reinterpret_cast<const __m256i *>(t + 64 * d + 32)),
              hi);
          acc[r][2 * d] = _mm256_add_epi16(
              acc[r][2 * d],
              _mm256_maddubs_epi16(ones, _mm256_unpacklo_epi8(la, lb)));
          acc[r][2 * d + 1] = _mm256_add_epi16(
              acc[r][2 * d + 1],
              _mm256_maddubs_epi16(ones, _mm256_unpackhi_epi8(la, lb)));
        }
      }
    }
  }
  const __m256i weights = _mm256_set1_epi32(0x01000001); // (1, 256) pairs
  for (int r = 0; r < MT; ++r)
    for (int q = 0; q < 2; ++q) {
      const __m256i hi16 = acc[r][q], lo16 = acc[r][2 + q];
      // int32 lo + 256 * hi: rows 0..3 and 4..7 of the half, per lane.
      const __m256i m0 =
          _mm256_madd_epi16(_mm256_unpacklo_epi16(lo16, hi16), weights);
      const __m256i m1 =
          _mm256_madd_epi16(_mm256_unpackhi_epi16(lo16, hi16), weights);
      const __m256i sum =
          _mm256_add_epi32(_mm256_permute2x128_si256(m0, m1, 0x20),
                           _mm256_permute2x128_si256(m0, m1, 0x31));
      __m256i *p = reinterpret_cast<__m256i *>(part + r * 16 + 8 * q);
      _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p), sum));
    }
}

void avx2LutChunkedI16(const Activations &a, const int8_t *tables,
                       const float *scales, const ChunkedWeights &w,
                       int64_t b0, int64_t b1, float *out, int64_t ldo) {
  // Two rows per tile: 8 accumulators, the indices and constants fill the
  // 16 ymm registers.
  constexpr int MT = 2;
  const int64_t rowBytes = w.kw * kI16TableBytesPerWord, nb = b1 - b0;
  thread_local std::vector<int32_t> partBuf;
  partBuf.assign(static_cast<size_t>(nb * a.m * 16), 0);
  int32_t *part = partBuf.data();
  for (int64_t c = 0; c < w.chunks(); ++c) {
    const int64_t cw = w.chunkWords(c), w0 = c * kI16ChunkWords;
    for (int64_t b = b0; b < b1; ++b) {
      const uint8_t *wp = w.at(c, b);
      for (int64_t i0 = 0; i0 < a.m; i0 += MT) {
        const int mt = int(std::min<int64_t>(MT, a.m - i0));
        const int8_t *tab[MT];
        for (int r = 0; r < mt; ++r)
          tab[r] = tables + (i0 + r) * rowBytes + w0 * kI16TableBytesPerWord;
        int32_t *p = part + ((b - b0) * a.m + i0) * 16;
        withRowTile<MT>(mt, [&](auto rows) {
          i16TileAvx2<decltype(rows)::value>(tab, wp, cw, p);
        });
      }
    }
  }
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t valid = std::min<int64_t>(16, w.n - 16 * b);
    for (int64_t i = 0; i < a.m; ++i) {
      const int32_t *s = part + ((b - b0) * a.m + i) * 16;
      const __m256 sc = _mm256_set1_ps(scales[i]);
      alignas(32) float v[16];
      _mm256_store_ps(v, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(
                                           reinterpret_cast<const __m256i *>(s))),
                                       sc));
      _mm256_store_ps(v + 8,
                      _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(
                                        reinterpret_cast<const __m256i *>(s + 8))),
                                    sc));
      float *o = out + i * ldo + 16 * b;
      for (int64_t r = 0; r < valid; ++r)
        o[r] = v[r];
    }
  }
}

// ---- Weight-only int8 linear ------------------------------------------------

// 8 int8 weights at p as 8 floats.
static inline __m256 load8i8(const int8_t *p) {
  __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p));
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

// The lanes [0, rem) of a partial 8-float chunk.
static inline __m256i tailMask(int64_t rem) {
  alignas(32) static const int32_t ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(rem)),
                            _mm256_load_si256(
                                reinterpret_cast<const __m256i *>(ramp)));
}

// 32 int8 weights at p as four vectors of 8 floats. One 32-byte load and
// register-to-register sign extensions: vpmovsxbd with a memory operand (one
// per 8 weights) measured 2.2x slower on Zen 2.
static inline void load32i8(const int8_t *p, __m256 f[4]) {
  __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
  __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
  f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
  f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo)));
  f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
  f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)));
}

// MI (1 or 2) activation rows against weight row r: 4 accumulators a row,
// 32 weights an iteration.
template <int MI>
static void int8GemvRow(const float *x, int64_t k, const int8_t *w, int64_t r,
                        float *out, int64_t ldo) {
  const int8_t *wr = w + r * k;
  __m256 acc[MI][4];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < 4; ++j)
      acc[i][j] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 32 <= k; c += 32) {
    __m256 f[4];
    load32i8(wr + c, f);
    for (int i = 0; i < MI; ++i)
      for (int j = 0; j < 4; ++j)
        acc[i][j] = _mm256_fmadd_ps(f[j], _mm256_loadu_ps(x + i * k + c + 8 * j),
                                    acc[i][j]);
  }
  for (; c + 8 <= k; c += 8) {
    __m256 f = load8i8(wr + c);
    for (int i = 0; i < MI; ++i)
      acc[i][0] = _mm256_fmadd_ps(f, _mm256_loadu_ps(x + i * k + c), acc[i][0]);
  }
  for (int i = 0; i < MI; ++i) {
    float t = 0;
    for (int64_t cc = c; cc < k; ++cc)
      t += x[i * k + cc] * float(wr[cc]);
    out[i * ldo + r] = hsum(_mm256_add_ps(_mm256_add_ps(acc[i][0], acc[i][1]),
                                          _mm256_add_ps(acc[i][2], acc[i][3]))) +
                       t;
  }
}

// MI activation rows against 4 rows of the f32 panel (row stride kp, zero
// padded past k): MI * 4 accumulators, horizontal sums at the end.
template <int MI>
static void int8PanelMicro(const float *x, int64_t k, const float *panel,
                           int64_t kp, int rows, float *out, int64_t ldo) {
  __m256 acc[MI][4];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < 4; ++j)
      acc[i][j] = _mm256_setzero_ps();
  const int64_t full = k & ~int64_t(7);
  for (int64_t c = 0; c < full; c += 8) {
    __m256 wv[4];
    for (int j = 0; j < 4; ++j)
      wv[j] = _mm256_load_ps(panel + j * kp + c);
    for (int i = 0; i < MI; ++i) {
      __m256 xv = _mm256_loadu_ps(x + i * k + c);
      for (int j = 0; j < 4; ++j)
        acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  if (full < k) {
    __m256i mask = tailMask(k - full);
    __m256 wv[4];
    for (int j = 0; j < 4; ++j)
      wv[j] = _mm256_load_ps(panel + j * kp + full);
    for (int i = 0; i < MI; ++i) {
      __m256 xv = _mm256_maskload_ps(x + i * k + full, mask);
      for (int j = 0; j < 4; ++j)
        acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < rows; ++j)
      out[i * ldo + j] = hsum(acc[i][j]);
}

void avx2Int8Rows(const float *x, int64_t m, int64_t k, const int8_t *w,
                  int64_t n0, int64_t n1, float *out, int64_t ldo,
                  float *panel) {
  if (m <= 2) {
    for (int64_t r = n0; r < n1; ++r) {
      if (m == 1)
        int8GemvRow<1>(x, k, w, r, out, ldo);
      else
        int8GemvRow<2>(x, k, w, r, out, ldo);
    }
    return;
  }
  const int64_t kp = (k + 7) & ~int64_t(7);
  for (int64_t p = n0; p < n1; p += kInt8PanelRows) {
    const int rows = int(std::min<int64_t>(kInt8PanelRows, n1 - p));
    // Rows of W as floats; rows past `rows` and columns past k are zero.
    for (int j = 0; j < kInt8PanelRows; ++j) {
      float *dst = panel + j * kp;
      if (j >= rows) {
        std::fill(dst, dst + kp, 0.0f);
        continue;
      }
      const int8_t *src = w + (p + j) * k;
      int64_t c = 0;
      for (; c + 32 <= k; c += 32) {
        __m256 f[4];
        load32i8(src + c, f);
        for (int q = 0; q < 4; ++q)
          _mm256_store_ps(dst + c + 8 * q, f[q]);
      }
      for (; c + 8 <= k; c += 8)
        _mm256_store_ps(dst + c, load8i8(src + c));
      for (; c < k; ++c)
        dst[c] = float(src[c]);
      for (; c < kp; ++c)
        dst[c] = 0.0f;
    }
    for (int jb = 0; jb < rows; jb += 4) {
      const int jr = std::min(4, rows - jb);
      const float *pj = panel + jb * kp;
      int64_t i = 0;
      for (; i + 3 <= m; i += 3)
        int8PanelMicro<3>(x + i * k, k, pj, kp, jr, out + i * ldo + p + jb,
                          ldo);
      if (m - i == 2)
        int8PanelMicro<2>(x + i * k, k, pj, kp, jr, out + i * ldo + p + jb,
                          ldo);
      else if (m - i == 1)
        int8PanelMicro<1>(x + i * k, k, pj, kp, jr, out + i * ldo + p + jb,
                          ldo);
    }
  }
}

// One row at a time, so W streams in order (rows interleaved by blocks made
// the hardware prefetchers lose track: 3.9 ms against 0.93 ms for
// 49152 x 576); two accumulators.
void avx2Int8GemvQ8(const int8_t *xq, const float *d, const float *x,
                    int64_t k, const int8_t *w, int64_t n0, int64_t n1,
                    float *out) {
  const int64_t nb = k / kQ8Block, tail = nb * kQ8Block;
  const __m256i ones = _mm256_set1_epi16(1);
  auto blockDot = [&](const int8_t *wb, int64_t b) {
    // |w| (unsigned) times x carrying w's sign: pairs summed to int16
    // (at most 2 * 128 * 127, no saturation), then to int32.
    const __m256i wv =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wb));
    const __m256i xv = _mm256_loadu_si256(
        reinterpret_cast<const __m256i *>(xq + b * kQ8Block));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv),
                             _mm256_sign_epi8(xv, wv)),
        ones));
  };
  for (int64_t r = n0; r < n1; ++r) {
    const int8_t *wr = w + r * k;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      acc0 = _mm256_fmadd_ps(blockDot(wr + b * kQ8Block, b),
                             _mm256_set1_ps(d[b]), acc0);
      acc1 = _mm256_fmadd_ps(blockDot(wr + (b + 1) * kQ8Block, b + 1),
                             _mm256_set1_ps(d[b + 1]), acc1);
    }
    if (b < nb)
      acc0 = _mm256_fmadd_ps(blockDot(wr + b * kQ8Block, b),
                             _mm256_set1_ps(d[b]), acc0);
    float t = hsum(_mm256_add_ps(acc0, acc1));
    for (int64_t i = tail; i < k; ++i)
      t += x[i] * float(wr[i]);
    out[r] = t;
  }
}

} // namespace rt
} // namespace onebit
