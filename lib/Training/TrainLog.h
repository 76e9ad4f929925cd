//===- TrainLog.h - the trainer's JSONL log and progress line ---*- C++ -*-===//
//
// Internal to lib/Training. StepLog is outDir/train.jsonl, one JSON object
// per step; ProgressLine is a progress line on stderr.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TRAINING_TRAINLOG_H
#define ONEBIT_LIB_TRAINING_TRAINLOG_H

#include "onebit/Training/Trainer.h"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

namespace onebit {

/// `v` with up to 7 significant digits (%.7g), as the log and the progress
/// lines print numbers.
std::string formatNumber(double v);

/// The JSONL log of a run: {"step", "lr", "loss", "l_ce", "l_mse",
/// "seconds", "tokens_per_s"} per line, flushed after each; data-parallel
/// runs add "ranks", "comm_seconds" (rank 0's time in collectives) and
/// "rank_tokens_per_s" (each rank's compute throughput).
class StepLog {
public:
  /// Opens `path`, keeping only the lines of steps up to `keepThrough` (0:
  /// none, a fresh log), so a resumed run's log has each step once.
  bool open(const std::string &path, int64_t keepThrough, std::string &error);
  void append(const TrainStepInfo &info);

private:
  std::ofstream out_;
};

/// A progress line on stderr: rewritten in place on a terminal, otherwise
/// printed as plain lines at most every `minGap` seconds (forced lines,
/// such as the last, always).
class ProgressLine {
public:
  explicit ProgressLine(double minGap);
  double elapsed() const;
  /// Seconds left when `done` of `total` units took elapsed().
  double eta(int64_t done, int64_t total) const;
  /// Counts the time from `secondsAgo` before now.
  void restart(double secondsAgo = 0);
  void update(const std::string &line, bool force = false);
  /// Ends an in-place line before other output.
  void end();

private:
  bool tty_, open_ = false;
  double minGap_, last_ = -1e300;
  std::chrono::steady_clock::time_point start_;
};

} // namespace onebit

#endif // ONEBIT_LIB_TRAINING_TRAINLOG_H
