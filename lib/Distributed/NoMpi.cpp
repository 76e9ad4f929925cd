//===- NoMpi.cpp - the MPI backend's entry points in a build without MPI --===//
//
// Compiled instead of MpiCommunicator.cpp when CMake found no MPI: asking
// for the backend is an error that says how to get it.
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

namespace onebit {

bool mpiAvailable() { return false; }

std::unique_ptr<Communicator> createMpiCommunicator(int *, char ***,
                                                    std::string &error) {
  error = "this build has no MPI: CMake did not find it when onebit was "
          "configured (install libopenmpi-dev and openmpi-bin, e.g. with "
          "scripts/env.sh, then reconfigure)";
  return nullptr;
}

} // namespace onebit
