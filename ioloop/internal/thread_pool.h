// ioloop internals: the small thread pool behind IOLoop::run_in_executor.
//
// Fixed number of workers started lazily on the first submit; `shutdown`
// drops tasks not yet started, waits for running ones and joins.
//
// Thread-safety: thread-safe (std::mutex and std::condition_variable, which
// ThreadSanitizer understands; Debian's absl::Mutex is not instrumented).

#ifndef TORNADO_IOLOOP_INTERNAL_THREAD_POOL_H_
#define TORNADO_IOLOOP_INTERNAL_THREAD_POOL_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace tornado::ioloop_internal {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : size_(threads) {}
  ~ThreadPool() { shutdown(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // False (task dropped) after shutdown.
  bool submit(absl::AnyInvocable<void() &&> task);
  void shutdown();

 private:
  void work();

  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_;  // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  std::vector<std::thread> workers_;                  // guarded by mu_
};

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_THREAD_POOL_H_
