//===- TrainRanks.cpp - the communicator of a data-parallel run -----------===//

#include "TrainRanks.h"

#include <algorithm>
#include <cstdlib>

namespace onebit {

const char *const kDistributedHelp =
    "data-parallel training: auto (default: MPI when started by mpirun or "
    "srun, with NCCL for --device=cuda), none (this process alone), mpi "
    "(require MPI), nccl (gradients over NCCL, one GPU per rank; one rank "
    "without a launcher)";

int launcherRanks() {
  // Open MPI's mpirun, then the PMI/PMIx variables that srun and other
  // launchers set.
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char *v = std::getenv(name))
      return std::max(1, std::atoi(v));
  if (std::getenv("PMIX_RANK"))
    return 1;
  return 0;
}

std::shared_ptr<Communicator> openCommunicator(const std::string &mode,
                                               Target target,
                                               double timeoutSeconds,
                                               std::shared_ptr<Communicator> &
                                                   abortOnError,
                                               std::string &error) {
  error.clear();
  abortOnError.reset();
  if (mode != "auto" && mode != "none" && mode != "mpi" && mode != "nccl") {
    error = "--distributed must be auto, none, mpi or nccl (got '" + mode +
            "')";
    return nullptr;
  }
  if (!(timeoutSeconds > 0)) {
    error = "--collective-timeout must be a positive number of seconds";
    return nullptr;
  }
  const int launched = launcherRanks();
  if (mode == "none" || (mode == "auto" && launched == 0))
    return nullptr;
  std::shared_ptr<Communicator> mpi;
  // NCCL alone (one rank, no launcher) needs no MPI.
  if (mode != "nccl" || launched > 0) {
    std::unique_ptr<Communicator> c =
        createMpiCommunicator(nullptr, nullptr, error);
    if (!c) {
      if (launched > 0)
        error = "started by an MPI launcher (" + std::to_string(launched) +
                " ranks) but " + error;
      return nullptr;
    }
    c->setTimeoutSeconds(timeoutSeconds);
    mpi = std::move(c);
  }
  const bool nccl =
      mode == "nccl" || (mode == "auto" && target == Target::Cuda);
  if (!nccl)
    return mpi;
  std::unique_ptr<Communicator> c =
      createNcclCommunicator(mpi, /*device=*/0, error);
  if (!c) {
    error = (mode == "nccl" ? "--distributed=nccl: "
                            : "NCCL for the --device=cuda ranks: ") +
            error;
    // The other ranks may be waiting for this one.
    if (mpi && mpi->size() > 1)
      abortOnError = mpi;
    return nullptr;
  }
  c->setTimeoutSeconds(timeoutSeconds);
  return std::shared_ptr<Communicator>(std::move(c));
}

} // namespace onebit
