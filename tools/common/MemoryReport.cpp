//===- MemoryReport.cpp - the process's resident memory, for tools --------===//

#include "MemoryReport.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace onebit {

bool readResidentMemory(int64_t &rssBytes, int64_t &peakBytes) {
  std::FILE *f = std::fopen("/proc/self/status", "r");
  if (!f)
    return false;
  rssBytes = peakBytes = -1;
  char line[256];
  while (std::fgets(line, sizeof(line), f)) {
    long long kb;
    if (std::sscanf(line, "VmRSS: %lld kB", &kb) == 1)
      rssBytes = int64_t(kb) * 1024;
    else if (std::sscanf(line, "VmHWM: %lld kB", &kb) == 1)
      peakBytes = int64_t(kb) * 1024;
  }
  std::fclose(f);
  return rssBytes >= 0 && peakBytes >= 0;
}

std::string MemoryReport::line(const std::string &phase) {
  int64_t rss, peak;
  if (!readResidentMemory(rss, peak))
    return phase + ": resident memory unknown (no /proc/self/status)";
  runPeak_ = std::max(runPeak_, peak);
  char buf[128];
  std::snprintf(buf, sizeof(buf),
                ": rss %.1f MB, phase peak %.1f MB, run peak %.1f MB",
                rss / 1e6, peak / 1e6, runPeak_ / 1e6);
  // "5" resets the peak resident set to the current one (Linux 4.0+).
  if (std::FILE *f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
  return phase + buf;
}

} // namespace onebit
