// -----------------------------------------------------------------------------
// task_group.h
// -----------------------------------------------------------------------------
//
// `gen::TaskGroup`: structured concurrency (asyncio's TaskGroup, folly's
// AsyncScope). Children are spawned into a group and joined together; the
// first failure cancels the others; no child outlives the scope unasked.
//
//   gen::TaskGroup group;
//   for (auto& b : backends) group.spawn(query(b));
//   co_await group.join();   // every child finished; rethrows the first failure
//
// Rules (../shared/API.md):
//   - `spawn(child)` adds a child (usually a coroutine's future) and returns
//     it. Into a group that is failing or already joined, it cancels the
//     child at once and returns it.
//   - The first child to fail (an exception other than CancelledError)
//     cancels every other child; `join()` then rethrows that failure once
//     all have finished. Later failures are logged ("Multiple exceptions
//     in yield list", as `multi`). A child that ends cancelled is not a
//     failure.
//   - `join()` completes once every child spawned so far has finished (at
//     once if none is running); calls return the same future until it
//     completes. Cancelling it cancels every child; it then completes
//     cancelled once they have finished (or with the first failure).
//   - Destroying the group cancels the children still running. They
//     finish on their own on the loop (catch blocks and destructors run);
//     nothing waits for them.
//
// Ownership: the group holds its state; each child's done-callback shares
// it, and the group names the children without owning them (so a child
// that never completes leaks nothing). Cost: no allocation per child
// beyond the child's done-callback (the slot vector is reused).
//
// Thread-compatible: use a group on its loop's thread.

#ifndef TORNADO_GEN_TASK_GROUP_H_
#define TORNADO_GEN_TASK_GROUP_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "tornado/future/future.h"
#include "tornado/gen/internal/child_set.h"

namespace tornado::gen {

namespace gen_internal {

// The state a TaskGroup shares with its children's done-callbacks; the
// cancel hook of its join() future.
class TaskGroupCore final : public future_internal::CancelHook {
 public:
  TaskGroupCore() = default;
  ~TaskGroupCore();
  TaskGroupCore(const TaskGroupCore&) = delete;
  TaskGroupCore& operator=(const TaskGroupCore&) = delete;

  ChildSet& children() { return children_; }
  bool refuses_children() const { return failing_ || joined_; }
  void child_added() { ++running_; }
  // A child finished with `error` (null: success).
  void child_done(std::exception_ptr error, bool cancelled);
  Future<void> join();
  void cancel_children();
  size_t running() const { return running_; }

  bool cancel_requested(future_internal::RefCount*, uintptr_t) noexcept override;

 private:
  void complete_join();

  ChildSet children_;
  size_t running_ = 0;
  bool failing_ = false;
  bool joined_ = false;
  bool join_cancelled_ = false;
  std::exception_ptr first_error_;
  std::optional<Future<void>> join_;
};

template <class T>
class TaskGroupWatch final : public ChildWatch<TaskGroupCore> {
 public:
  using ChildWatch<TaskGroupCore>::ChildWatch;
  void operator()(Future<T> done) {
    const bool cancelled = done.cancelled();
    owner_->child_done(done.exception(), cancelled);
  }
};

}  // namespace gen_internal

class TaskGroup {
 public:
  TaskGroup() : core_(std::make_shared<gen_internal::TaskGroupCore>()) {}
  // Cancels the children still running (see the file comment).
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // TaskGroup::spawn()
  //
  // Adds `child` and returns it (see the file comment).
  template <class T>
  Future<T> spawn(Future<T> child) {
    if (core_->refuses_children()) {
      child.cancel();
      return child;
    }
    const size_t slot = core_->children().add(child);
    core_->child_added();
    child.add_done_callback(gen_internal::TaskGroupWatch<T>(core_, slot));
    return child;
  }

  // TaskGroup::join()
  //
  // Done once every child has finished: fails with the first failure, or
  // ends cancelled if it was cancelled; else succeeds.
  Future<void> join() { return core_->join(); }

  // Children spawned and not finished yet.
  size_t running() const { return core_->running(); }

 private:
  std::shared_ptr<gen_internal::TaskGroupCore> core_;
};

}  // namespace tornado::gen

#endif  // TORNADO_GEN_TASK_GROUP_H_
