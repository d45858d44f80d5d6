#include "tornado/gen/task_group.h"

#include <utility>

#include "tornado/gen/multi.h"

namespace tornado::gen {

namespace gen_internal {

TaskGroupCore::~TaskGroupCore() {
  // Children freed unfinished leave the join future pending: it must not
  // name a dead hook.
  if (join_) future_internal::Access::clear_cancel_hook(*join_);
}

void TaskGroupCore::child_done(std::exception_ptr error, bool cancelled) {
  if (error && !cancelled) {
    if (!first_error_) {
      first_error_ = std::move(error);
      failing_ = true;
      cancel_children();
    } else {
      log_multi_exception(error);
    }
  }
  if (--running_ == 0 && join_ && !join_->done()) complete_join();
}

void TaskGroupCore::cancel_children() {
  try {
    children_.cancel_all();
  } catch (...) {
    // Out of memory for a CancelledError: that child runs on.
  }
}

Future<void> TaskGroupCore::join() {
  if (join_) return *join_;
  join_.emplace();
  future_internal::Access::set_label(*join_, "TaskGroup::join");
  if (running_ == 0) {
    complete_join();
  } else {
    future_internal::Access::set_cancel_hook(*join_, this, 0);
  }
  return *join_;
}

void TaskGroupCore::complete_join() {
  joined_ = true;
  Future<void> j = *join_;
  future_internal::Access::clear_cancel_hook(j);
  if (first_error_) {
    j.set_exception(first_error_);
  } else if (join_cancelled_) {
    future_internal::Access::complete_cancelled(j);
  } else {
    j.set_result();
  }
}

bool TaskGroupCore::cancel_requested(future_internal::RefCount*, uintptr_t) noexcept {
  join_cancelled_ = true;
  cancel_children();
  return true;  // join_ completes once the children have finished
}

}  // namespace gen_internal

TaskGroup::~TaskGroup() {
  if (core_->running() > 0) core_->cancel_children();
}

}  // namespace tornado::gen
