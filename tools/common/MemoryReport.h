//===- MemoryReport.h - the process's resident memory, for tools -*- C++ -*-===//
//
// onebit-train --report-memory: the resident set now and its peak, read
// from /proc/self/status (Linux), printed after each phase of a run.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TOOLS_COMMON_MEMORYREPORT_H
#define ONEBIT_TOOLS_COMMON_MEMORYREPORT_H

#include <cstdint>
#include <string>

namespace onebit {

/// The process's resident set (VmRSS) and its peak so far (VmHWM) in
/// bytes; false when /proc/self/status cannot be read (not Linux).
bool readResidentMemory(int64_t &rssBytes, int64_t &peakBytes);

/// Measures the phases of a run: each line gives the resident set at the
/// end of the phase, its peak during the phase (the kernel's peak is reset
/// after each line through /proc/self/clear_refs, where it can be) and the
/// peak of the whole run so far.
class MemoryReport {
public:
  /// "PHASE: rss 1234.5 MB, phase peak 2345.6 MB, run peak 3456.7 MB"
  /// (MB = 10^6 bytes), or "PHASE: resident memory unknown (no
  /// /proc/self/status)". Without a resettable peak the phase peak is the
  /// run's.
  std::string line(const std::string &phase);

private:
  int64_t runPeak_ = 0;
};

} // namespace onebit

#endif // ONEBIT_TOOLS_COMMON_MEMORYREPORT_H
