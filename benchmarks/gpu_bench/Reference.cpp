//===- Reference.cpp - gpu_bench: inputs and expected outputs -------------===//

#include "Reference.h"

#include <cmath>
#include <cstring>

namespace gpubench {

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
  int32_t biased = int32_t((x >> 23) & 0xff);
  if (biased == 0xff)
    return uint16_t(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = biased - 127 + 15;
  if (e >= 31)
    return uint16_t(sign | 0x7c00);
  if (e <= 0) { // subnormal half (or zero), round to nearest even
    if (e < -10)
      return uint16_t(sign);
    mant |= 0x800000;
    uint32_t shift = uint32_t(14 - e);
    uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1),
             half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
      ++h;
    return uint16_t(sign | h);
  }
  uint32_t h = (uint32_t(e) << 10) | (mant >> 13), rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    ++h; // a carry into the exponent is the right result (up to inf)
  return uint16_t(sign | h);
}

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, e = (h >> 10) & 0x1f,
           mant = h & 0x3ff, x;
  if (e == 0x1f)
    x = sign | 0x7f800000 | (mant << 13);
  else if (e == 0) {
    if (!mant)
      x = sign;
    else { // subnormal: normalise
      int shift = 0;
      while (!(mant & 0x400)) {
        mant <<= 1;
        ++shift;
      }
      x = sign | (uint32_t(127 - 15 + 1 - shift) << 23) | ((mant & 0x3ff) << 13);
    }
  } else
    x = sign | ((e - 15 + 127) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

namespace {
struct Rng {
  uint64_t s;
  uint64_t next() { // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return float(next() >> 40) * (1.0f / 16777216.0f); }
};
} // namespace

LayerData LayerData::random(const LayerShape &s, uint64_t seed) {
  LayerData d;
  Rng r{seed};
  int64_t words = (s.k + 31) / 32;
  d.x.resize(s.m * s.k);
  for (auto &v : d.x)
    v = floatToHalf(2 * r.uniform() - 1);
  d.g.resize(s.k);
  for (auto &v : d.g)
    v = floatToHalf(0.5f + r.uniform());
  d.h.resize(s.n);
  float hs = 1.0f / std::sqrt(float(s.k));
  for (auto &v : d.h)
    v = floatToHalf((0.5f + r.uniform()) * hs);
  d.signs.resize(s.n * words);
  for (auto &w : d.signs)
    w = uint32_t(r.next());
  if (s.k % 32) // padding bits of each row are zero
    for (int64_t n = 0; n < s.n; ++n)
      d.signs[n * words + words - 1] &= (1u << (s.k % 32)) - 1;
  return d;
}

void referenceRow(const LayerShape &s, const LayerData &d, int64_t m,
                  const std::vector<int64_t> &columns,
                  std::vector<double> &out, std::vector<double> &scale,
                  std::vector<double> *l2) {
  int64_t words = (s.k + 31) / 32;
  std::vector<double> v(s.k);
  double squares = 0;
  for (int64_t k = 0; k < s.k; ++k) {
    v[k] = double(halfToFloat(d.x[m * s.k + k])) * halfToFloat(d.g[k]);
    squares += v[k] * v[k];
  }
  if (l2)
    l2->clear();
  auto pre = [&](int64_t n, double &sc) {
    double acc = 0, abs = 0;
    for (int64_t k = 0; k < s.k; ++k) {
      acc += d.sign(n, k, words) * v[k];
      abs += std::fabs(v[k]);
    }
    double h = halfToFloat(d.h[n]);
    sc = std::fabs(h) * abs;
    return acc * h;
  };
  out.clear();
  scale.clear();
  if (s.normEps <= 0) {
    for (int64_t n : columns) {
      double sc;
      out.push_back(pre(n, sc));
      scale.push_back(sc);
      if (l2)
        l2->push_back(std::fabs(halfToFloat(d.h[n])) * std::sqrt(squares));
    }
    return;
  }
  // LayerNorm needs the whole row.
  std::vector<double> row(s.n), rowScale(s.n);
  double mean = 0, var = 0;
  for (int64_t n = 0; n < s.n; ++n)
    mean += row[n] = pre(n, rowScale[n]);
  mean /= double(s.n);
  for (int64_t n = 0; n < s.n; ++n)
    var += (row[n] - mean) * (row[n] - mean);
  var /= double(s.n);
  double inv = 1 / std::sqrt(var + s.normEps);
  for (int64_t n : columns) {
    out.push_back((row[n] - mean) * inv);
    scale.push_back(1.0); // normalised: errors are measured absolutely
    if (l2)
      l2->push_back(0.0);
  }
}

} // namespace gpubench
