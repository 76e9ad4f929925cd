//===- Communicator.cpp - the interface's out-of-line members -------------===//

#include "onebit/Distributed/Communicator.h"

namespace onebit {

Communicator::~Communicator() = default;

std::string Communicator::timeoutError(const std::string &what) const {
  return "rank " + std::to_string(rank()) + ": " + what +
         " did not complete within " +
         std::to_string(int64_t(timeoutSeconds())) +
         " s: another rank has died or hangs";
}

} // namespace onebit
