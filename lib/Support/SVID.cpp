//===- SVID.cpp - Sign-Value-Independent Decomposition --------------------===//

#include "onebit/Support/SVID.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace onebit {
namespace {

// Dot product of |row| and v with 16 independent float accumulators so the
// compiler vectorises it without reassociation flags.
inline float absDot(const float *row, const float *v, int64_t n) {
  float acc[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; ++l)
      acc[l] += std::fabs(row[j + l]) * v[j + l];
  float s = 0;
  for (int l = 0; l < 16; ++l)
    s += acc[l];
  for (; j < n; ++j)
    s += std::fabs(row[j]) * v[j];
  return s;
}

// Sum of |x| over n values, blocked like absDot.
inline double absSum(const float *x, int64_t n) {
  double total = 0;
  // Float partial sums over short blocks keep precision and vectorise.
  const int64_t block = 4096;
  for (int64_t start = 0; start < n; start += block) {
    int64_t end = std::min(n, start + block);
    float acc[16] = {0};
    int64_t j = start;
    for (; j + 16 <= end; j += 16)
      for (int l = 0; l < 16; ++l)
        acc[l] += std::fabs(x[j + l]);
    float s = 0;
    for (int l = 0; l < 16; ++l)
      s += acc[l];
    for (; j < end; ++j)
      s += std::fabs(x[j]);
    total += s;
  }
  return total;
}

inline void absAxpy(float alpha, const float *row, float *out, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    out[j] += alpha * std::fabs(row[j]);
}

inline double sumSq(const std::vector<float> &v) {
  double s = 0;
  for (float x : v)
    s += double(x) * x;
  return s;
}

// One alternating-least-squares sweep over |W|, fused into a single read of W:
//   a_i = (|w_i| . b) / (b . b)    then    b'_j = sum_i a_i |w_ij| / (a . a).
// Non-negative inputs keep both factors non-negative, so this is also the
// exact coordinate-descent NMF update at rank 1, and (up to scaling) one step
// of power iteration on |W|^T |W|.
void alsSweep(const float *w, int64_t rows, int64_t cols,
              std::vector<float> &a, std::vector<float> &b,
              std::vector<float> &nextB) {
  double bb = sumSq(b);
  if (bb == 0)
    bb = 1;
  std::fill(nextB.begin(), nextB.end(), 0.0f);
  double aa = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float *row = w + i * cols;
    float ai = static_cast<float>(absDot(row, b.data(), cols) / bb);
    a[i] = ai;
    aa += double(ai) * ai;
    if (ai != 0)
      absAxpy(ai, row, nextB.data(), cols);
  }
  if (aa == 0)
    aa = 1;
  for (int64_t j = 0; j < cols; ++j)
    nextB[j] = static_cast<float>(nextB[j] / aa);
}

void balance(std::vector<float> &a, std::vector<float> &b) {
  double na = std::sqrt(sumSq(a)), nb = std::sqrt(sumSq(b));
  if (na == 0 || nb == 0)
    return;
  double s = std::sqrt(nb / na);
  for (float &x : a)
    x = static_cast<float>(x * s);
  for (float &x : b)
    x = static_cast<float>(x / s);
}

} // namespace

bool parseSvidInit(const std::string &name, SvidInit &out) {
  if (name == "nmf")
    out = SvidInit::NMF;
  else if (name == "svd")
    out = SvidInit::SVD;
  else if (name == "mean")
    out = SvidInit::Mean;
  else
    return false;
  return true;
}

double signValueRelError(const float *w, int64_t rows, int64_t cols,
                         const float *a, const float *b) {
  double err = 0, norm = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float *row = w + i * cols;
    const float ai = a[i];
    // Per-row float partial sums in 16 lanes (vectorisable), rows in double.
    float e[16] = {0}, q[16] = {0};
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16)
      for (int l = 0; l < 16; ++l) {
        float x = std::fabs(row[j + l]);
        float d = x - ai * b[j + l];
        e[l] += d * d;
        q[l] += x * x;
      }
    double re = 0, rq = 0;
    for (int l = 0; l < 16; ++l) {
      re += e[l];
      rq += q[l];
    }
    for (; j < cols; ++j) {
      double x = std::fabs(row[j]);
      double d = x - double(ai) * b[j];
      re += d * d;
      rq += x * x;
    }
    err += re;
    norm += rq;
  }
  return norm == 0 ? 0.0 : std::sqrt(err / norm);
}

SvidResult svid(const float *w, int64_t rows, int64_t cols,
                const SvidOptions &options) {
  SvidResult r;
  r.a.assign(rows, 0.0f);
  r.b.assign(cols, 0.0f);

  if (options.init == SvidInit::Mean) {
    double s = absSum(w, rows * cols);
    float mean = rows * cols ? static_cast<float>(s / (rows * cols)) : 0.0f;
    std::fill(r.a.begin(), r.a.end(), mean);
    std::fill(r.b.begin(), r.b.end(), 1.0f);
    r.converged = true;
  } else {
    if (options.init == SvidInit::NMF) {
      // Random non-negative start scaled like scikit-learn's init='random':
      // sqrt(mean(|W|)) * |N(0, 1)|.
      double s = absSum(w, rows * cols);
      double scale = rows * cols ? std::sqrt(s / (rows * cols)) : 0.0;
      std::mt19937_64 rng(options.seed);
      std::normal_distribution<double> normal(0.0, 1.0);
      for (float &x : r.b)
        x = static_cast<float>(scale * std::fabs(normal(rng)));
    } else {
      std::fill(r.b.begin(), r.b.end(), 1.0f);
    }
    std::vector<float> nextB(cols);
    for (unsigned it = 0; it < options.maxIters; ++it) {
      alsSweep(w, rows, cols, r.a, r.b, nextB);
      // Convergence: relative change of the (scale-free) product a b^T,
      // measured on b after normalising both to unit length.
      double nb = std::sqrt(sumSq(r.b)), nn = std::sqrt(sumSq(nextB));
      double diff = 0;
      if (nb > 0 && nn > 0)
        for (int64_t j = 0; j < cols; ++j) {
          double d = r.b[j] / nb - nextB[j] / nn;
          diff += d * d;
        }
      r.b.swap(nextB);
      r.iterations = it + 1;
      if (std::sqrt(diff) <= options.tolerance || nn == 0) {
        r.converged = true;
        break;
      }
    }
    // Make `a` the exact least-squares partner of the final `b`.
    double bb = sumSq(r.b);
    for (int64_t i = 0; i < rows; ++i)
      r.a[i] = bb == 0 ? 0.0f
                       : static_cast<float>(
                             absDot(w + i * cols, r.b.data(), cols) / bb);
  }
  balance(r.a, r.b);
  r.relError = signValueRelError(w, rows, cols, r.a.data(), r.b.data());
  return r;
}

double rank1SvdRelError(const float *w, int64_t rows, int64_t cols,
                        unsigned maxIters, double tolerance) {
  // Power iteration on W^T W for the top right singular vector v.
  std::vector<double> v(cols, 1.0 / std::sqrt(double(cols))), u(rows),
      nv(cols);
  double sigma = 0;
  for (unsigned it = 0; it < maxIters; ++it) {
    for (int64_t i = 0; i < rows; ++i) {
      double s = 0;
      for (int64_t j = 0; j < cols; ++j)
        s += double(w[i * cols + j]) * v[j];
      u[i] = s;
    }
    std::fill(nv.begin(), nv.end(), 0.0);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        nv[j] += double(w[i * cols + j]) * u[i];
    double n = 0;
    for (double x : nv)
      n += x * x;
    n = std::sqrt(n);
    if (n == 0)
      break;
    double diff = 0;
    for (int64_t j = 0; j < cols; ++j) {
      double x = nv[j] / n;
      diff += (x - v[j]) * (x - v[j]);
      v[j] = x;
    }
    if (std::sqrt(diff) < tolerance)
      break;
  }
  // u = W v, sigma = ||u||; residual^2 = ||W||^2 - sigma^2.
  double uu = 0, norm = 0;
  for (int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) {
      s += double(w[i * cols + j]) * v[j];
      norm += double(w[i * cols + j]) * w[i * cols + j];
    }
    uu += s * s;
  }
  sigma = std::sqrt(uu);
  if (norm == 0)
    return 0.0;
  return std::sqrt(std::max(0.0, norm - sigma * sigma) / norm);
}

} // namespace onebit
