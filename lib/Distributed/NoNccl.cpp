//===- NoNccl.cpp - the NCCL backend's entry point in a build without it --===//
//
// Compiled instead of NcclCommunicator.cpp when CMake found no nccl.h and
// cuda.h (CUDA toolkit, ONEBIT_CUDA_ROOT): asking for NCCL is an error that
// says so.
//
//===----------------------------------------------------------------------===//

#include "onebit/Distributed/Communicator.h"

namespace onebit {

std::unique_ptr<Communicator>
createNcclCommunicator(std::shared_ptr<Communicator>, int,
                       std::string &error) {
  error = "this build has no NCCL backend: CMake found no nccl.h and cuda.h "
          "(set ONEBIT_CUDA_ROOT to the CUDA toolkit and reconfigure)";
  return nullptr;
}

} // namespace onebit
