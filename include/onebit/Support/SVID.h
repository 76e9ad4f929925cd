//===- SVID.h - Sign-Value-Independent Decomposition ------------*- C++ -*-===//
//
// W = sign(W) . |W|,  |W| ~ a b^T (rank 1). The rank-1 factors become the
// value vectors of a OneBit layer: h = a (rows, output features) and g = b
// (columns, input features). Plain C++, shared by the quantize pass, the unit
// tests and the benchmarks.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_SVID_H
#define ONEBIT_SUPPORT_SVID_H

#include <cstdint>
#include <string>
#include <vector>

namespace onebit {

enum class SvidInit {
  /// Rank-1 non-negative matrix factorisation of |W| by alternating least
  /// squares from a seeded random non-negative start (what coordinate descent
  /// NMF does at rank 1).
  NMF,
  /// Top singular pair of |W| by power iteration from the all-ones vector; by
  /// Perron-Frobenius both vectors are non-negative.
  SVD,
  /// Naive baseline: h = mean|W| for every row, g = 1.
  Mean,
};

/// Parses "nmf", "svd" or "mean"; returns false for anything else.
bool parseSvidInit(const std::string &name, SvidInit &out);

struct SvidOptions {
  SvidInit init = SvidInit::NMF;
  unsigned maxIters = 200;
  double tolerance = 1e-6;
  unsigned seed = 0;
};

struct SvidResult {
  std::vector<float> a; ///< length rows: h
  std::vector<float> b; ///< length cols: g
  unsigned iterations = 0;
  bool converged = false;
  /// ||W - sign(W) . (a b^T)||_F / ||W||_F (0 when W is all zeros).
  double relError = 0.0;
};

/// Decomposes the row-major rows x cols matrix `w`. The two factors are
/// scaled to equal Euclidean norm. Reads `w` once per iteration and keeps no
/// copy of it. NaN/Inf in `w` must be rejected by the caller.
SvidResult svid(const float *w, int64_t rows, int64_t cols,
                const SvidOptions &options);

/// ||W - sign(W) . (a b^T)||_F / ||W||_F.
double signValueRelError(const float *w, int64_t rows, int64_t cols,
                         const float *a, const float *b);

/// Rank-1 truncated SVD of the signed matrix W by power iteration: returns
/// ||W - sigma u v^T||_F / ||W||_F, the bound SVID must beat.
double rank1SvdRelError(const float *w, int64_t rows, int64_t cols,
                        unsigned maxIters = 500, double tolerance = 1e-9);

} // namespace onebit

#endif // ONEBIT_SUPPORT_SVID_H
