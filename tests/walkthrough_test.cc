// End-to-end: the document's walkthrough of asyn_sum(2, 3), asserted as the
// trace of the machinery's steps, and a stack context followed through a
// coroutine, callbacks, a timeout and an fd handler.

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tornado/future/future.h"
#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/logging/logging.h"
#include "tornado/stack_context/stack_context.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class Trace {
 public:
  Trace() {
    logging::set_trace_sink(
        [this](std::string_view e) { events_.emplace_back(e); });
  }
  ~Trace() { logging::set_trace_sink(nullptr); }
  void mark(std::string s) { events_.push_back(std::move(s)); }
  const std::vector<std::string>& events() const { return events_; }

 private:
  std::vector<std::string> events_;
};

Future<void> asyn_sum(Trace* trace, int a, int b) {
  trace->mark("begin");
  Future<int> future;
  IOLoop::current().add_callback([trace, future, a, b]() mutable {
    trace->mark("callback");
    future.set_result(a + b);
  });
  int result = co_await future;
  trace->mark("after yielded");
  trace->mark("result " + std::to_string(result));
}

TEST(WalkthroughTest, AsynSumFollowsTheDocumentStepByStep) {
  IOLoop loop;
  loop.make_current();
  std::vector<std::string> events;
  {
    Trace trace;
    Future<void> f = asyn_sum(&trace, 2, 3);
    trace.mark("returned to main");
    f.add_done_callback([&](Future<void>) { loop.stop(); });
    loop.start();
    events = trace.events();
  }
  EXPECT_EQ(events, (std::vector<std::string>{
                        "begin",             // the body runs at once
                        "add_callback",      // the callback is queued
                        "handle_yield",      // co_await: future not done
                        "add_future",        // handed to the loop with inner
                        "returned to main",  // the coroutine is suspended
                        "callback",          // loop: set_result(a + b)
                        "inner",             // add_future's callback runs
                        "run",               // Runner::run resumes
                        "after yielded",
                        "result 5",
                    }));
  loop.close();
}

TEST(WalkthroughTest, NestedCoroutineIsACoroutineAwaitingAFuture) {
  IOLoop loop;
  loop.make_current();
  std::vector<std::string> events;
  auto child = [](Trace* t) -> Future<int> {
    t->mark("child start");
    co_await gen::moment;
    t->mark("child return");
    co_return 21;
  };
  auto parent = [&](Trace* t) -> Future<int> {
    int v = co_await child(t);
    t->mark("parent got " + std::to_string(v));
    co_return v * 2;
  };
  int r;
  {
    Trace trace;
    r = loop.run_sync([&] { return parent(&trace); });
    events = trace.events();
  }
  EXPECT_EQ(r, 42);
  // The parent waits on the child's future like on any other.
  std::vector<std::string> marks;
  for (const auto& e : events) {
    if (e.find(' ') != std::string::npos) marks.push_back(e);
  }
  EXPECT_EQ(marks, (std::vector<std::string>{"child start", "child return",
                                             "parent got 21"}));
  loop.close();
}

TEST(WalkthroughTest, StackContextFollowsEveryKindOfHop) {
  IOLoop loop;
  loop.make_current();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  Local<std::string> request;
  std::vector<std::string> seen;
  std::vector<std::string> handled;
  auto see = [&](const char* where) {
    seen.push_back(std::string(where) + ":" +
                   (request.get() ? *request.get() : "none"));
  };
  auto handler = [&]() -> Future<void> {
    see("coroutine");
    Future<void> readable;
    loop.add_handler(
        sv[0],
        [&, readable](int fd, uint32_t) mutable {
          see("fd handler");
          char c;
          EXPECT_EQ(read(fd, &c, 1), 1);
          loop.remove_handler(fd);
          readable.set_result();
        },
        IOLoop::READ);
    loop.call_later(1ms, [&] {
      see("timeout");
      EXPECT_EQ(write(sv[1], "x", 1), 1);
    });
    co_await readable;
    see("after fd");
    loop.add_callback([&] {
      see("callback");
      throw std::runtime_error("in request");
    });
    co_await gen::sleep(2ms);
    see("after sleep");
  };
  Future<void> f;
  {
    Local<std::string>::Scope scope(request, "req-1");
    ExceptionStackContext esc([&](std::exception_ptr e) {
      handled.push_back(logging::describe(e) + " @" +
                        (request.get() ? *request.get() : "none"));
      return true;
    });
    f = handler();
  }
  see("outside");
  loop.run_sync([&] { return f; });
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "coroutine:req-1", "outside:none", "timeout:req-1",
                      "fd handler:req-1", "after fd:req-1", "callback:req-1",
                      "after sleep:req-1"}));
  EXPECT_EQ(handled, (std::vector<std::string>{
                         "std::runtime_error: in request @req-1"}));
  close(sv[0]);
  close(sv[1]);
  loop.close();
}

}  // namespace
}  // namespace tornado
