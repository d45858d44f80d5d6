// ioloop internals: the small thread pool behind IOLoop::run_in_executor.
//
// A fixed number of workers, started lazily on the first submit.
// `shutdown` (and the destructor) drops tasks not yet started and returns
// at once: it never waits for a running task (asyncio's `close()` does
// not wait for its default executor either; waiting would block the loop's
// thread, or deadlock if the task waits on the loop). The workers are
// detached and share the queue with the pool (`std::shared_ptr`), so a
// worker finishing its task after the pool, and the loop owning it, are
// gone touches neither: tasks must hold only what outlives them (the loop
// gives them its anchor, never itself).
//
// Thread-safety: thread-safe (std::mutex and std::condition_variable, which
// ThreadSanitizer understands; Debian's absl::Mutex is not instrumented).

#ifndef TORNADO_IOLOOP_INTERNAL_THREAD_POOL_H_
#define TORNADO_IOLOOP_INTERNAL_THREAD_POOL_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "absl/functional/any_invocable.h"

namespace tornado::ioloop_internal {

class ThreadPool {
 public:
  // Throws std::invalid_argument unless `threads` >= 1.
  explicit ThreadPool(int threads);
  ~ThreadPool() { shutdown(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`; false (task dropped) after shutdown. Throws
  // std::system_error if a worker thread cannot be started (the task is
  // then not queued).
  bool submit(absl::AnyInvocable<void() &&> task);
  // Drops queued tasks; running ones finish on their own. Idempotent.
  void shutdown();

 private:
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<absl::AnyInvocable<void() &&>> tasks;  // guarded by mu
    bool stopping = false;                            // guarded by mu
  };
  static void work(std::shared_ptr<Queue> queue);

  const int size_;
  int started_ = 0;  // guarded by queue_->mu
  std::shared_ptr<Queue> queue_;
};

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_THREAD_POOL_H_
