#include "tornado/gen/debug.h"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <iostream>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "tornado/gen/runner.h"

namespace tornado::gen {
size_t dump_coroutines(std::ostream& os, IOLoop& loop) {
  std::vector<const Runner*> all;
  ioloop_internal::LoopAccess::for_each_suspended(loop, [&](ioloop_internal::Suspended* s) {
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
       << (now - r->since_ns()) / 1000000 << " ms"
       << (r->cancelling() ? " (cancelling)" : "") << "\n";
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

}  // namespace tornado::gen
