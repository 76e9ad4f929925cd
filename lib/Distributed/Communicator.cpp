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

} // namespace onebit
