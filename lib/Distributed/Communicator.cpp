//===- Communicator.cpp - the interface's out-of-line members -------------===//

#include "onebit/Distributed/Communicator.h"

#include <algorithm>
#include <vector>

namespace onebit {

Communicator::~Communicator() = default;

std::string Communicator::timeoutError(const std::string &what) const {
  return "rank " + std::to_string(rank()) + ": " + what +
         " did not complete within " +
         std::to_string(int64_t(timeoutSeconds())) +
         " s: another rank has died or hangs";
}

bool Communicator::reduceScatterSum(float *data, size_t count,
                                    const std::string &what,
                                    std::string &error) {
  return allReduceSum(data, count, what, error);
}

bool Communicator::reduceScatterRangeSum(float *data, size_t first, size_t last,
                                         size_t /*total*/,
                                         const std::string &what,
                                         std::string &error) {
  return first >= last || allReduceSum(data + first, last - first, what, error);
}

bool Communicator::allGatherBlocks(float *data, size_t count,
                                   const std::string &what,
                                   std::string &error) {
  if (size() == 1)
    return true;
  // Every block padded to the longest, gathered, then laid end to end.
  const size_t longest = (count + size_t(size()) - 1) / size_t(size());
  auto [first, last] = blockOf(count);
  std::vector<float> mine(longest, 0.0f), all(longest * size_t(size()));
  std::copy(data + first, data + last, mine.data());
  if (!allGather(mine.data(), longest * sizeof(float), all.data(), what, error))
    return false;
  for (int r = 0; r < size(); ++r) {
    auto [lo, hi] = blockOfRank(count, r, size());
    std::copy(all.data() + size_t(r) * longest,
              all.data() + size_t(r) * longest + (hi - lo), data + lo);
  }
  return true;
}

bool Communicator::allGatherBlocks(
    const std::vector<std::pair<float *, size_t>> &pieces,
    const std::string &what, std::string &error) {
  size_t count = 0;
  for (const auto &[data, n] : pieces)
    count += n;
  std::vector<float> all(count);
  size_t at = 0;
  for (const auto &[data, n] : pieces) {
    std::copy(data, data + n, all.data() + at);
    at += n;
  }
  if (!allGatherBlocks(all.data(), count, what, error))
    return false;
  at = 0;
  for (const auto &[data, n] : pieces) {
    std::copy(all.data() + at, all.data() + at + n, data);
    at += n;
  }
  return true;
}

} // namespace onebit
