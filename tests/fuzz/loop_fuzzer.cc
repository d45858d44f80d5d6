// Fuzz target: input bytes decoded into a sequence of operations on an
// IOLoop (callbacks, throwing callbacks, timeouts and their removal,
// futures completed with values or exceptions, coroutines awaiting them,
// fd handlers), run against the library and against a small reference
// model of the order and outcomes Tornado's rules imply, checked after
// every run of the loop. Any divergence aborts with both traces.
//
// Built with libFuzzer under clang (--config=fuzz, see the README) and
// replayed over tests/fuzz/corpus by //tests/fuzz:loop_fuzzer_replay_test
// under gcc in every CI run.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/logging/logging.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t next() { return pos_ < size_ ? data_[pos_++] : 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct Harness {
  std::vector<std::string> actual;
  std::vector<std::string> expected;
  int exceptions_seen = 0;
  int exceptions_expected = 0;

  [[noreturn]] void fail(const char* why) {
    std::fprintf(stderr, "loop_fuzzer: %s\nexpected:", why);
    for (auto& e : expected) std::fprintf(stderr, " %s", e.c_str());
    std::fprintf(stderr, "\nactual:  ");
    for (auto& a : actual) std::fprintf(stderr, " %s", a.c_str());
    std::fprintf(stderr, "\n");
    std::abort();
  }
  void check() {
    if (actual != expected) fail("event order diverged from the model");
    if (exceptions_seen != exceptions_expected) fail("exception count diverged");
  }
};

class CountingLoop : public IOLoop {
 public:
  explicit CountingLoop(Harness* h) : h_(h) {}
  void handle_callback_exception(std::exception_ptr) override {
    ++h_->exceptions_seen;
  }

 private:
  Harness* h_;
};

Future<void> waiter(Harness* h, int id, Future<int> f) {
  h->actual.push_back("co" + std::to_string(id) + ":start");
  try {
    int v = co_await f;
    h->actual.push_back("co" + std::to_string(id) + ":v" + std::to_string(v));
  } catch (const std::runtime_error&) {
    h->actual.push_back("co" + std::to_string(id) + ":e");
  }
}

struct ModelTimer {
  int id;
  int deadline;  // smaller fires first
  int seq;
  bool live;
  IOLoop::Timeout handle;
};

struct ModelFuture {
  Future<int> future;
  bool done = false;
  bool failed = false;
  int value = 0;
  std::vector<int> waiters;  // coroutine ids suspended on it, in order
};

struct ModelFd {
  int fd = -1, peer = -1;
  bool removed = false;
  int fired = 0;
};

void run_one(const uint8_t* data, size_t size) {
  Harness h;
  logging::ScopedSink quiet([](logging::Level, std::string_view) {});
  CountingLoop loop(&h);
  loop.make_current();
  const IOLoop::time_point base = loop.time();
  std::vector<std::string> queue;  // model: callbacks queued, in order
  std::vector<ModelTimer> timers;
  std::vector<ModelFuture> futures;
  std::vector<ModelFd> fds;
  std::vector<Future<void>> coroutines;
  int next_id = 0, seq = 0;

  Input in(data, size);
  for (int op_count = 0; !in.empty() && op_count < 4000; ++op_count) {
    const int id = next_id++;
    switch (in.next() % 10) {
      case 0: {  // add_callback
        std::string name = "cb" + std::to_string(id);
        loop.add_callback([&h, name] { h.actual.push_back(name); });
        queue.push_back(name);
        break;
      }
      case 1: {  // a callback that throws
        std::string name = "throw" + std::to_string(id);
        loop.add_callback([&h, name] {
          h.actual.push_back(name);
          throw std::runtime_error(name);
        });
        queue.push_back(name + "!");
        break;
      }
      case 2: {  // a timeout, already due, at one of 8 deadlines
        int k = in.next() % 8;
        std::string name = "t" + std::to_string(id);
        auto handle = loop.call_at(base - std::chrono::milliseconds(8 - k),
                                   [&h, name] { h.actual.push_back(name); });
        timers.push_back({id, k, seq++, true, handle});
        break;
      }
      case 3: {  // remove a timeout (fired or not)
        if (timers.empty()) break;
        ModelTimer& t = timers[in.next() % timers.size()];
        loop.remove_timeout(t.handle);
        t.live = false;
        break;
      }
      case 4:  // a new future
        futures.emplace_back();
        break;
      case 5: {  // complete a future
        if (futures.empty()) break;
        ModelFuture& f = futures[in.next() % futures.size()];
        if (f.done) break;
        f.done = true;
        f.failed = in.next() % 2 == 0;
        f.value = id;
        if (f.failed) {
          f.future.set_exception(
              std::make_exception_ptr(std::runtime_error("f")));
        } else {
          f.future.set_result(f.value);
        }
        // Waiters resume through the loop's queue, in the order they
        // started waiting.
        for (int w : f.waiters) {
          queue.push_back("co" + std::to_string(w) + ":" +
                          (f.failed ? std::string("e")
                                    : "v" + std::to_string(f.value)));
        }
        f.waiters.clear();
        break;
      }
      case 6: {  // a coroutine awaiting a future
        if (futures.empty()) break;
        ModelFuture& f = futures[in.next() % futures.size()];
        h.expected.push_back("co" + std::to_string(id) + ":start");
        if (f.done) {  // a done future does not go through the loop
          h.expected.push_back("co" + std::to_string(id) + ":" +
                               (f.failed ? std::string("e")
                                         : "v" + std::to_string(f.value)));
        } else {
          f.waiters.push_back(id);
        }
        coroutines.push_back(waiter(&h, id, f.future));
        h.check();
        break;
      }
      case 7: {  // an fd handler on a socketpair with a byte waiting
        if (fds.size() >= 32) break;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) break;
        fds.push_back({sv[0], sv[1]});
        size_t index = fds.size() - 1;
        if (write(sv[1], "x", 1) != 1) h.fail("write failed");
        loop.add_handler(
            sv[0],
            [&fds, &loop, index](int fd, uint32_t) {
              char c;
              if (read(fd, &c, 1) == 1) ++fds[index].fired;
              loop.remove_handler(fd);
            },
            IOLoop::READ);
        break;
      }
      case 8: {  // remove an fd handler
        if (fds.empty()) break;
        ModelFd& f = fds[in.next() % fds.size()];
        loop.remove_handler(f.fd);
        f.removed = true;
        break;
      }
      case 9: {  // run one iteration: callbacks in order, then due timeouts
        loop.add_callback([&loop] { loop.stop(); });
        loop.start();
        for (auto& e : queue) {
          if (e.back() == '!') {
            h.expected.push_back(e.substr(0, e.size() - 1));
            ++h.exceptions_expected;
          } else {
            h.expected.push_back(e);
          }
        }
        queue.clear();
        std::vector<ModelTimer*> due;
        for (auto& t : timers) {
          if (t.live) due.push_back(&t);
        }
        std::stable_sort(due.begin(), due.end(), [](auto* a, auto* b) {
          return a->deadline != b->deadline ? a->deadline < b->deadline
                                            : a->seq < b->seq;
        });
        for (auto* t : due) {
          h.expected.push_back("t" + std::to_string(t->id));
          t->live = false;  // fired: a later removal is a no-op
        }
        h.check();
        break;
      }
    }
  }
  // Drain: let the loop poll, so fd handlers run; then check them.
  loop.run_sync([] { return gen::sleep(1ms); });
  for (auto& f : fds) {
    if (f.fired != (f.removed ? 0 : 1)) h.fail("fd handler ran the wrong number of times");
    close(f.fd);
    close(f.peer);
  }
  // Closing destroys the coroutines still waiting; their futures stay
  // pending.
  loop.close();
  for (auto& f : futures) {
    if (!f.done) f.future.set_result(0);  // nothing may point at dead frames
  }
}

}  // namespace
}  // namespace tornado

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tornado::run_one(data, size);
  return 0;
}
