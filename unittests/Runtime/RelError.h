//===- RelError.h - error measure shared by the runtime's tests -*- C++ -*-===//

#ifndef ONEBIT_UNITTESTS_RUNTIME_RELERROR_H
#define ONEBIT_UNITTESTS_RUNTIME_RELERROR_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace onebit::test {

/// Largest |got - want| of a row relative to the row's largest |want|, over
/// m rows of n. Infinity when an output is NaN or infinite (std::max would
/// drop a NaN, and the tests start outputs as NaN to catch unwritten ones).
inline double maxRelError(const std::vector<float> &got,
                          const std::vector<double> &want, int64_t m,
                          int64_t n) {
  double worst = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    double scale = 1e-30, err = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      scale = std::max(scale, std::fabs(want[i * n + j]));
      const double d = std::fabs(double(got[i * n + j]) - want[i * n + j]);
      if (!std::isfinite(d))
        return std::numeric_limits<double>::infinity();
      err = std::max(err, d);
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

} // namespace onebit::test

#endif // ONEBIT_UNITTESTS_RUNTIME_RELERROR_H
