//===- TrainConsole.cpp - onebit-train's progress and summary -------------===//

#include "onebit/Training/TrainConsole.h"

#include "TrainLog.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace onebit {

struct TrainConsole::State {
  std::optional<ProgressLine> generation, steps;

  void note(llvm::StringRef line) {
    llvm::errs() << "onebit-train: " << line << "\n";
  }

  /// A plain line every 10 s when stderr is not a terminal.
  void generated(int64_t done, int64_t total) {
    if (done == 0 || !generation)
      generation.emplace(10.0);
    if (done == 0)
      return;
    generation->update(
        "onebit-train: generated " + std::to_string(done) + "/" +
            std::to_string(total) + " sequences, " +
            formatNumber(std::round(generation->elapsed())) + "s, eta " +
            formatNumber(std::round(generation->eta(done, total))) + "s",
        /*force=*/done == total);
    if (done == total)
      generation->end();
  }

  /// Data-parallel runs: each rank's compute tok/s and the step's time in
  /// collectives (with buckets, also the part after the backward, which
  /// the backward did not hide).
  static std::string rankDetail(const TrainStepInfo &i) {
    if (!i.dataParallel)
      return "";
    std::string s = " (ranks";
    for (double t : i.rankTokensPerSecond)
      s += " " + formatNumber(std::round(t));
    auto ms = [](double seconds) {
      return formatNumber(std::round(seconds * 1e4) / 10);
    };
    s += ", comm " + ms(i.commSeconds) + " ms";
    if (i.buckets)
      s += ", " + ms(i.commWaitSeconds) + " after the backward";
    return s + ")";
  }

  void step(const TrainStepInfo &i) {
    if (!steps) {
      steps.emplace(0.0);
      steps->restart(i.seconds);
    }
    const double eta =
        steps->eta(i.step - i.startStep, i.lastStep - i.startStep);
    steps->update("step " + std::to_string(i.step) + "/" +
                  std::to_string(i.lastStep) + " loss " +
                  formatNumber(i.loss) + " l_ce " + formatNumber(i.lossCE) +
                  " l_mse " + formatNumber(i.lossMSE) + " lr " +
                  formatNumber(i.lr) + " tok/s " +
                  formatNumber(std::round(i.tokensPerSecond)) +
                  rankDetail(i) + " eta " +
                  formatNumber(std::round(eta)) + "s");
  }

  void end() {
    if (generation)
      generation->end();
    if (steps)
      steps->end();
  }

  void summary(const TrainResult &r, const TrainSizeReport &s) {
    end();
    llvm::outs() << "onebit-train: " << r.steps << " steps, final loss "
                 << formatNumber(r.finalLoss) << "\n";
    llvm::outs() << "onebit-train: wrote " << r.modelPath << "\n";
    llvm::outs() << llvm::format(
        "size: FP %.0f bytes of constants -> 1-bit %.0f bytes (%.2fx "
        "smaller); model %.3f bits/weight; 1-bit linear layers %.3f "
        "bits/weight (%lld weights)\n",
        s.fpBits / 8, s.oneBitBits / 8, s.fpBits / std::max(s.oneBitBits, 1.0),
        s.oneBitBits / std::max(s.fpParams, 1.0),
        s.linearBits / std::max<double>(double(s.linearWeights), 1.0),
        static_cast<long long>(s.linearWeights));
    // What the deployment step would make of it: the layers OneBit keeps in
    // FP (embedding, head) in weight-only int8.
    if (s.deployBits >= 0)
      llvm::outs() << llvm::format(
          "deploy: onebit-opt --onebit-int8-weights (FP embedding/head in "
          "weight-only int8) -> %.0f bytes (%.2fx smaller than FP); model "
          "%.3f bits/weight\n",
          s.deployBits / 8, s.fpBits / std::max(s.deployBits, 1.0),
          s.deployBits / std::max(s.fpParams, 1.0));
  }
};

TrainConsole::TrainConsole() : state_(std::make_shared<State>()) {}
TrainConsole::~TrainConsole() = default;

TrainCallbacks
TrainConsole::callbacks(std::function<bool(const TrainStepInfo &)> onStep) {
  TrainCallbacks c;
  std::shared_ptr<State> s = state_;
  c.note = [s](llvm::StringRef line) { s->note(line); };
  c.generated = [s](int64_t done, int64_t total) {
    s->generated(done, total);
  };
  c.onStep = [s, onStep = std::move(onStep)](const TrainStepInfo &i) {
    s->step(i);
    return onStep ? onStep(i) : true;
  };
  c.finished = [s](const TrainResult &r, const TrainSizeReport &size) {
    s->summary(r, size);
  };
  return c;
}

void TrainConsole::end() { state_->end(); }

} // namespace onebit
