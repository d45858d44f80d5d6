#include "tornado/gen/runner.h"

#include <time.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "tornado/gen/coroutine.h"
#include "tornado/logging/logging.h"

namespace tornado::gen {

bool Runner::check_contexts() {
  const stack_context_internal::Node* now = stack_context_internal::current_head();
  if (now == resume_contexts_) return true;
  // Suspending inside scopes entered since the resumption: they are left
  // behind (reported here, not again when they end), and the caller's
  // contexts come back.
  stack_context_internal::abandon(now, resume_contexts_);
  stack_context_internal::set_head(resume_contexts_);
  resume_flags_ |= kInconsistent;
  return false;
}

void Runner::keep_alive(std::shared_ptr<void> p) noexcept {
  if (!keep_alive_) {
    keep_alive_ = std::move(p);
    return;
  }
  try {
    // A second one (rare: the same coroutine's future returned twice).
    keep_alive_ = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>>(
        std::move(keep_alive_), std::move(p));
  } catch (...) {
    // Out of memory: the callable dies with `p` now; nothing better to do
    // in a noexcept function.
  }
}

bool Runner::cancel_requested(future_internal::RefCount*, uintptr_t) noexcept {
  // Down a chain of coroutines each awaiting the next, iteratively: asking
  // the child here is what cancel() on the awaited future would do (the
  // child's Runner is its hook, and always accepts), without one recursion
  // per level (a chain as deep as its completion, which is iterative, may
  // be cancelled too). Nothing here runs a coroutine, so the frames along
  // the chain (and the awaited states their awaiters hold) stay alive.
  Runner* r = this;
  for (;;) {
    r->cancelling_ = true;
    if (r->suspended_ && r->awaited_ops_ != nullptr && r->awaited_state_ != nullptr) {
      if (Runner* child = r->awaited_ops_->child(r->awaited_state_)) {
        r = child;
        continue;
      }
      // The awaiter holds the awaited future while suspended: its state is
      // alive. Done already (our resumption is queued): cancel() is false.
      try {
        if (r->awaited_ops_->cancel(r->awaited_state_)) return true;
      } catch (...) {
        // Out of memory for the CancelledError: deliver it ourselves.
      }
    }
    if (r->suspended_) {
      r->resume_flags_ |= kCancelOnResume;
    } else {
      r->cancel_at_next_await_ = true;
    }
    return true;
  }
}

void throw_cancelled() { throw CancelledError(); }

void throw_inconsistent() {
  throw StackContextInconsistentError(
      "stack_context inconsistency (probably caused by a co_await inside a "
      "StackContext, ExceptionStackContext or Local<T>::Scope block)");
}

// ---- Diagnostics ---------------------------------------------------------------

int64_t Runner::coarse_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

namespace {

// GCC names a coroutine's body "R f(f()::_Z1fv.Frame*)" or "R ns::f(args)":
// keep "ns::f".
std::string short_function_name(const char* full) {
  std::string_view s(full);
  // Cut the parameter list: the last '(' at template depth 0.
  int depth = 0;
  size_t paren = std::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '<') ++depth;
    if (c == '>') --depth;
    if (c == '(' && depth == 0) {
      paren = i;
      break;
    }
  }
  std::string_view head = s.substr(0, paren);
  // Drop the return type: the last space at template depth 0.
  depth = 0;
  size_t space = std::string_view::npos;
  for (size_t i = 0; i < head.size(); ++i) {
    char c = head[i];
    if (c == '<') ++depth;
    if (c == '>') --depth;
    if (c == ' ' && depth == 0) space = i;
  }
  if (space != std::string_view::npos) head = head.substr(space + 1);
  return std::string(head.empty() ? s : head);
}

}  // namespace

std::string Runner::describe_frame() const {
  if (where_.line() == 0) return "coroutine (not suspended yet)";
  return short_function_name(where_.function_name()) + " at " +
         where_.file_name() + ":" + std::to_string(where_.line());
}

std::string Runner::async_chain() const {
  std::string out = "    in coroutine " + describe_frame();
  int guard = 0;
  for (const Runner* p = awaiting_parent(); p != nullptr && guard < 1000;
       p = p->awaiting_parent(), ++guard) {
    out += "\n    awaited by " + p->describe_frame();
  }
  return out;
}

namespace gen_internal {
void fail_missing_return_impl(const Runner& runner, std::exception_ptr& out) {
  try {
    const std::string where = runner.where().line() != 0
                                  ? runner.describe_frame()
                                  : std::string("(never suspended)");
    out = std::make_exception_ptr(std::logic_error(
        "coroutine " + where +
        " ended without co_return: a Future<T> coroutine must co_return a "
        "value on every path"));
  } catch (...) {
    out = std::current_exception();  // bad_alloc: still not pending forever
  }
}

void log_dropped_exception(const std::exception_ptr& e) noexcept {
  logging::error("Exception in coroutine after its future was already done "
                 "(dropped): " + logging::describe(e));
}

void annotate_escaping(const Runner& runner, const std::exception_ptr& e) {
  if (logging::annotated(e)) return;  // an inner coroutine's chain is deeper
  try {
    logging::annotate(e, runner.async_chain());
  } catch (...) {
    // Diagnostics must not change the outcome.
  }
}
}  // namespace gen_internal

}  // namespace tornado::gen
