//===- TrainRanks.h - the communicator of a data-parallel run ---*- C++ -*-===//
//
// How onebit-train finds the other ranks of its run (docs/training.md,
// "Data parallel"): --distributed=auto uses MPI when the process was
// started by an MPI launcher (mpirun, or srun with PMIx/PMI: it reads the
// launcher's environment, which the libraries never do), NCCL over an MPI
// bootstrap for --device=cuda; none trains alone; mpi and nccl ask for a
// backend explicitly.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TOOLS_TRAINRANKS_H
#define ONEBIT_TOOLS_TRAINRANKS_H

#include "onebit/Distributed/Communicator.h"
#include "onebit/Runner/Runner.h"

#include <memory>
#include <string>

namespace onebit {

extern const char *const kDistributedHelp;

/// The number of ranks the launcher says it started (0: no launcher).
int launcherRanks();

/// The communicator for `mode` (auto, none, mpi, nccl) and `target`; null
/// with `error` empty for a run alone, null with `error` set on failure.
/// `timeoutSeconds` bounds every collective. When NCCL fails on one rank
/// of several, `abortOnError` is the MPI communicator whose abort() ends
/// the others (after the caller reported the error).
std::shared_ptr<Communicator>
openCommunicator(const std::string &mode, Target target,
                 double timeoutSeconds,
                 std::shared_ptr<Communicator> &abortOnError,
                 std::string &error);

} // namespace onebit

#endif // ONEBIT_TOOLS_TRAINRANKS_H
