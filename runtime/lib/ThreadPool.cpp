//===- ThreadPool.cpp - the CPU kernels' persistent thread pool -----------===//
//
// See ThreadPool.h.
//
//===----------------------------------------------------------------------===//

#include "ThreadPool.h"

#include "Kernels.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ONEBIT_X86 1
#endif

using namespace onebit::rt;

namespace {
// Set on the pool's workers and on a caller while it runs a job's tasks, so
// a task that itself calls parallelFor runs serially instead of deadlocking
// on callMutex.
thread_local bool tInPool = false;
} // namespace

void ThreadPool::setThreads(int n) {
  if (n <= 0)
    n = std::max(1u, std::thread::hardware_concurrency());
  std::lock_guard<std::mutex> callLock(callMutex);
  stop();
  numThreads = n;
  quit = false;
  // A worker must know the generation it was created at: reading it from
  // inside the new thread races with the first job (which bumps it), and a
  // worker that starts late would then wait for a job that already ran
  // while the caller waits for that worker forever. callMutex is held, so
  // no job can start before every worker has its starting generation.
  const uint64_t start = generation.load();
  for (int i = 1; i < n; ++i)
    workers.emplace_back([this, start] { workerLoop(start); });
}

int ThreadPool::threads() {
  std::call_once(initOnce, [this] {
    if (workers.empty() && numThreads == 0)
      setThreads(0);
  });
  return numThreads;
}

void ThreadPool::parallelFor(int64_t count,
                             const std::function<void(int64_t)> &fn) {
  if (count <= 0)
    return;
  if (count == 1 || tInPool || threads() <= 1) {
    for (int64_t i = 0; i < count; ++i)
      fn(i);
    return;
  }
  std::lock_guard<std::mutex> callLock(callMutex);
  {
    std::lock_guard<std::mutex> lock(mutex);
    job = &fn;
    jobCount = count;
    next.store(0);
    closed.store(false);
    generation.fetch_add(1);
  }
  cv.notify_all();
  tInPool = true;
  work();
  tInPool = false;
  // Every task has been handed out. Close the job and wait only for the
  // workers inside it: one that has not woken up yet (descheduled on a
  // busy machine) must not hold the caller. A worker registers in
  // `entered` before it checks `closed` and the caller sets `closed`
  // before it reads `entered` (both sequentially consistent), so either
  // the worker sees the job closed and backs out or the caller waits for
  // it.
  closed.store(true);
  // A worker still inside holds a task; if it shares this CPU it needs the
  // CPU to finish it, so yield now and then instead of only spinning.
  for (int spins = 1; entered.load() != 0; ++spins) {
    pause();
    if (spins % 256 == 0)
      std::this_thread::yield();
  }
  job = nullptr;
}

void ThreadPool::pause() {
#ifdef ONEBIT_X86
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

void ThreadPool::work() {
  for (;;) {
    int64_t i = next.fetch_add(1);
    if (i >= jobCount)
      break;
    (*job)(i);
  }
}

void ThreadPool::workerLoop(uint64_t seen) {
  tInPool = true;
  for (;;) {
    // Spin a little (~50 us), then sleep. Every 256 pauses the spinning
    // worker yields: on a busy machine the scheduler may have put it on the
    // caller's CPU, where spinning would only delay the caller.
    int spins = 0;
    while (generation.load(std::memory_order_acquire) == seen && !quit.load() &&
           spins < 20000) {
      pause();
      if (++spins % 256 == 0)
        std::this_thread::yield();
    }
    if (generation.load(std::memory_order_acquire) == seen && !quit.load()) {
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait(lock, [&] { return generation.load() != seen || quit.load(); });
    }
    if (quit.load())
      return;
    seen = generation.load();
    entered.fetch_add(1);
    if (generation.load() == seen && !closed.load())
      work();
    entered.fetch_sub(1);
  }
}

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    quit = true;
  }
  cv.notify_all();
  for (auto &t : workers)
    t.join();
  workers.clear();
}

ThreadPool &onebit::rt::pool() {
  static ThreadPool p;
  return p;
}

void onebit::rt::parallelTasks(int64_t count,
                               const std::function<void(int64_t)> &fn) {
  pool().parallelFor(count, fn);
}
