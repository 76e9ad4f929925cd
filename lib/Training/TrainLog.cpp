//===- TrainLog.cpp - the trainer's JSONL log and progress line -----------===//

#include "TrainLog.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <unistd.h>
#include <vector>

namespace onebit {

std::string formatNumber(double v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%.7g", v);
  return s;
}

bool StepLog::open(const std::string &path, int64_t keepThrough,
                   std::string &error) {
  std::vector<std::string> keep;
  if (keepThrough > 0) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto at = line.find("\"step\":");
      if (at != std::string::npos &&
          std::atoll(line.c_str() + at + 7) <= keepThrough)
        keep.push_back(line);
    }
  }
  {
    std::ofstream out(path, std::ios::trunc);
    for (const std::string &l : keep)
      out << l << "\n";
  }
  out_.open(path, std::ios::app);
  if (!out_) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

void StepLog::append(const TrainStepInfo &i) {
  out_ << "{\"step\":" << i.step << ",\"lr\":" << formatNumber(i.lr)
       << ",\"loss\":" << formatNumber(i.loss)
       << ",\"l_ce\":" << formatNumber(i.lossCE)
       << ",\"l_mse\":" << formatNumber(i.lossMSE)
       << ",\"seconds\":" << formatNumber(i.seconds)
       << ",\"tokens_per_s\":" << formatNumber(i.tokensPerSecond)
       << ",\"cpu_seconds\":" << formatNumber(i.cpuSeconds);
  if (i.dataParallel) {
    out_ << ",\"ranks\":" << i.ranks
         << ",\"comm_seconds\":" << formatNumber(i.commSeconds)
         << ",\"comm_wait_seconds\":" << formatNumber(i.commWaitSeconds);
    if (i.buckets)
      out_ << ",\"buckets\":" << i.buckets
           << ",\"buckets_during_backward\":" << i.bucketsDuringBackward;
    out_ << ",\"rank_tokens_per_s\":[";
    for (size_t r = 0; r < i.rankTokensPerSecond.size(); ++r)
      out_ << (r ? "," : "") << formatNumber(i.rankTokensPerSecond[r]);
    out_ << "]";
  }
  out_ << "}\n";
  out_.flush();
}

ProgressLine::ProgressLine(double minGap)
    : tty_(isatty(2)), minGap_(minGap),
      start_(std::chrono::steady_clock::now()) {}

double ProgressLine::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start_)
      .count();
}

double ProgressLine::eta(int64_t done, int64_t total) const {
  return elapsed() / double(done) * double(total - done);
}

void ProgressLine::restart(double secondsAgo) {
  start_ = std::chrono::steady_clock::now() -
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
               std::chrono::duration<double>(secondsAgo));
  last_ = -1e300;
}

void ProgressLine::update(const std::string &line, bool force) {
  const double t = elapsed();
  if (!tty_ && !force && t - last_ < minGap_)
    return;
  last_ = t;
  if (tty_) {
    llvm::errs() << "\r\033[K" << line;
    open_ = true;
  } else {
    llvm::errs() << line << "\n";
  }
}

void ProgressLine::end() {
  if (open_)
    llvm::errs() << "\n";
  open_ = false;
}

} // namespace onebit
