#include "gen/gen.h"

#include <signal.h>
#include <time.h>

#include <cerrno>
#include <functional>
#include <iostream>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace tornado::gen {

bool Runner::check_contexts() {
  const stack_context_internal::Node* now = stack_context_internal::current_head();
  if (now == resume_contexts_) return true;
  // Suspending inside scopes entered since the resumption: they are left
  // behind (reported here, not again when they end), and the caller's
  // contexts come back.
  stack_context_internal::abandon(now, resume_contexts_);
  stack_context_internal::set_head(resume_contexts_);
  inconsistent_ = true;
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

size_t dump_coroutines(std::ostream& os, IOLoop& loop) {
  std::vector<const Runner*> all;
  loop.for_each_suspended([&](ioloop_internal::Suspended* s) {
    all.push_back(static_cast<const Runner*>(s));
  });
  // Who awaits whom: a coroutine's parent is the coroutine awaiting its
  // future directly, or through a multi()/with_timeout() it is part of.
  std::unordered_map<const void*, const Runner*> by_awaited;
  for (const Runner* r : all) {
    if (r->awaited_state() != nullptr) by_awaited[r->awaited_state()] = r;
  }
  std::unordered_map<const Runner*, std::vector<const Runner*>> children;
  std::vector<const Runner*> roots;
  for (const Runner* r : all) {
    const Runner* parent = r->awaiting_parent();
    if (parent == nullptr && r->parent_future() != nullptr) {
      auto it = by_awaited.find(r->parent_future());
      if (it != by_awaited.end()) parent = it->second;
    }
    if (parent != nullptr) {
      children[parent].push_back(r);
    } else {
      roots.push_back(r);
    }
  }
  const int64_t now = Runner::coarse_now_ns();  // fresh: the loop's may lag
  // Oldest first within a level (the list is newest first).
  std::function<void(const Runner*, int)> print = [&](const Runner* r, int depth) {
    os << std::string(2 * depth, ' ') << r->describe_frame() << " awaiting "
       << (r->awaiting() ? r->awaiting() : "?") << " for "
       << (now - r->since_ns()) / 1000000 << " ms\n";
    auto it = children.find(r);
    if (it == children.end()) return;
    for (auto c = it->second.rbegin(); c != it->second.rend(); ++c) {
      print(*c, depth + 1);
    }
  };
  for (auto r = roots.rbegin(); r != roots.rend(); ++r) print(*r, 0);
  return all.size();
}

namespace {
// The loop the signal handler dumps; written before the handler is set.
std::atomic<IOLoop*> g_dump_loop{nullptr};

void on_dump_signal(int) {
  IOLoop* loop = g_dump_loop.load(std::memory_order_acquire);
  if (loop == nullptr) return;
  loop->add_callback_from_signal([loop] {
    std::cerr << "---- coroutines suspended on the loop ----\n";
    size_t n = dump_coroutines(std::cerr, *loop);
    std::cerr << "---- " << n << " coroutine(s) ----" << std::endl;
  });
}
}  // namespace

void install_dump_on_signal(IOLoop& loop, int signo) {
  g_dump_loop.store(&loop, std::memory_order_release);
  struct sigaction sa {};
  sa.sa_handler = on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(signo, &sa, nullptr) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "install_dump_on_signal: sigaction failed");
  }
}

namespace gen_internal {

void log_multi_exception(const std::exception_ptr& e) {
  logging::error("Multiple exceptions in yield list: " + logging::describe(e));
}

std::exception_ptr first_error_logging_others(const std::exception_ptr* errors,
                                              size_t n) {
  std::exception_ptr first;
  for (size_t i = 0; i < n; ++i) {
    if (!errors[i]) continue;
    if (!first) {
      first = errors[i];
    } else {
      log_multi_exception(errors[i]);
    }
  }
  return first;
}

void log_after_timeout(const std::exception_ptr& e) {
  logging::error("Exception in Future after timeout: " + logging::describe(e));
}

}  // namespace gen_internal
}  // namespace tornado::gen
