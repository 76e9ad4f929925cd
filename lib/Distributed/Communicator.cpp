//===- Communicator.cpp - the interface's out-of-line members -------------===//

#include "onebit/Distributed/Communicator.h"

namespace onebit {

Communicator::~Communicator() = default;

} // namespace onebit
