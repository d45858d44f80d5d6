#include "tornado/ioloop/internal/thread_pool.h"

#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace tornado::ioloop_internal {

ThreadPool::ThreadPool(int threads)
    : size_(threads), queue_(std::make_shared<Queue>()) {
  if (threads < 1) {
    throw std::invalid_argument("ThreadPool: at least one thread, got " +
                                std::to_string(threads));
  }
}

bool ThreadPool::submit(absl::AnyInvocable<void() &&> task) {
  {
    std::lock_guard<std::mutex> lock(queue_->mu);
    if (queue_->stopping) return false;
    if (started_ < size_) {
      // Start a worker first: if that fails, nothing was queued.
      std::thread(&ThreadPool::work, queue_).detach();
      ++started_;
    }
    queue_->tasks.push_back(std::move(task));
  }
  queue_->cv.notify_one();
  return true;
}

void ThreadPool::work(std::shared_ptr<Queue> queue) {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      std::unique_lock<std::mutex> lock(queue->mu);
      queue->cv.wait(lock, [&] { return queue->stopping || !queue->tasks.empty(); });
      if (queue->stopping) return;
      task = std::move(queue->tasks.front());
      queue->tasks.pop_front();
    }
    std::move(task)();
  }
}

void ThreadPool::shutdown() {
  std::deque<absl::AnyInvocable<void() &&>> dropped;
  {
    std::lock_guard<std::mutex> lock(queue_->mu);
    queue_->stopping = true;
    dropped.swap(queue_->tasks);
  }
  queue_->cv.notify_all();
  // `dropped` is destroyed here, on the caller's thread.
}

}  // namespace tornado::ioloop_internal
