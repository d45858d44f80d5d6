#include "ioloop/internal/thread_pool.h"

namespace tornado::ioloop_internal {

bool ThreadPool::submit(absl::AnyInvocable<void() &&> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
    if (workers_.size() < static_cast<size_t>(size_)) {
      workers_.emplace_back([this] { work(); });
    }
  }
  cv_.notify_one();
  return true;
}

void ThreadPool::work() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    std::move(task)();
  }
}

void ThreadPool::shutdown() {
  std::vector<std::thread> workers;
  std::deque<absl::AnyInvocable<void() &&>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
    dropped.swap(tasks_);
  }
  cv_.notify_all();
  for (auto& t : workers) t.join();
  // `dropped` is destroyed here, on the caller's thread, after the join.
}

}  // namespace tornado::ioloop_internal
