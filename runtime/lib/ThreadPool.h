//===- ThreadPool.h - the CPU kernels' persistent thread pool ---*- C++ -*-===//
//
// Internal to the runtime: the 1-bit, int8 and dense kernels share one pool
// (pool()) so that they never oversubscribe the cores.
//
// Persistent workers, tasks handed out by an atomic counter. The caller works
// too and, once every task is handed out, waits only for the workers that
// took part (not for one still asleep or descheduled). Workers spin briefly
// before sleeping so back-to-back decode calls do not pay a futex wake-up
// each.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_LIB_THREADPOOL_H
#define ONEBIT_RUNTIME_LIB_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace onebit::rt {

class ThreadPool {
public:
  ~ThreadPool() { stop(); }

  /// Restarts the pool with n threads, the caller included; n <= 0 means
  /// hardware concurrency.
  void setThreads(int n);
  /// The pool size, starting the pool at hardware concurrency on first use.
  int threads();

  /// Runs fn(i) for i in [0, count). Nested calls (from inside a task) run
  /// serially on the calling thread.
  void parallelFor(int64_t count, const std::function<void(int64_t)> &fn);

private:
  static void pause();
  void work();
  void workerLoop(uint64_t seen);
  void stop();

  std::once_flag initOnce;
  std::mutex callMutex; // one parallel job at a time
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::thread> workers;
  int numThreads = 0;
  std::atomic<bool> quit{false};
  std::atomic<uint64_t> generation{0};
  std::atomic<int64_t> next{0};
  std::atomic<int> entered{0};    // workers inside the current job
  std::atomic<bool> closed{true}; // all tasks of the current job handed out
  int64_t jobCount = 0;
  const std::function<void(int64_t)> *job = nullptr;
};

/// The process-wide pool every kernel runs on.
ThreadPool &pool();

} // namespace onebit::rt

#endif // ONEBIT_RUNTIME_LIB_THREADPOOL_H
