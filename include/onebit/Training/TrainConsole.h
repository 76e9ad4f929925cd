//===- TrainConsole.h - onebit-train's progress and summary -----*- C++ -*-===//
//
// Prints a training run the way onebit-train does: set-up notes and progress
// lines on stderr (rewritten in place on a terminal, plain lines otherwise),
// the summary and size report on stdout. Used by onebit-train and by the
// Python module's train(quiet=False).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TRAINING_TRAINCONSOLE_H
#define ONEBIT_TRAINING_TRAINCONSOLE_H

#include "onebit/Training/Trainer.h"

#include <memory>

namespace onebit {

class TrainConsole {
public:
  TrainConsole();
  ~TrainConsole();

  /// Callbacks that print `note`, `generated`, a line per step and, from
  /// `finished`, the summary. `onStep` runs after each step's line and
  /// decides whether the run goes on (empty: it does).
  TrainCallbacks callbacks(
      std::function<bool(const TrainStepInfo &)> onStep = {});
  /// Ends an in-place progress line before other output (an error).
  void end();

private:
  struct State;
  std::shared_ptr<State> state_;
};

} // namespace onebit

#endif // ONEBIT_TRAINING_TRAINCONSOLE_H
