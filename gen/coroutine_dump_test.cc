// Async stack traces: the tree of suspended coroutines, and the async chain
// attached to exceptions escaping coroutines.

#include <signal.h>

#include <sstream>
#include <string>
#include <vector>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/periodic_callback.h"
#include "tornado/logging/logging.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

struct Lines {
  int top = 0, mid = 0, sleeper = 0, waiter = 0;
};

Future<void> leaf_sleep(Lines* l) {
  l->sleeper = __LINE__ + 1;
  co_await gen::sleep(1h);
}

Future<void> leaf_never(Lines* l, Future<int> never) {
  l->waiter = __LINE__ + 1;
  co_await never;
}

Future<void> mid(Lines* l, Future<int> never) {
  std::vector<Future<void>> children;
  children.push_back(leaf_sleep(l));
  children.push_back(leaf_never(l, never));
  l->mid = __LINE__ + 1;
  co_await gen::multi(std::move(children));
}

Future<void> top(Lines* l, Future<int> never) {
  l->top = __LINE__ + 1;
  co_await mid(l, never);
}

// The dump without the waiting times, which vary.
std::vector<std::string> dump_lines(IOLoop& loop) {
  std::ostringstream os;
  gen::dump_coroutines(os, loop);
  std::vector<std::string> lines;
  std::istringstream in(os.str());
  for (std::string line; std::getline(in, line);) {
    size_t at = line.rfind(" for ");
    if (at != std::string::npos && line.size() > 3 &&
        line.compare(line.size() - 3, 3, " ms") == 0) {
      line.erase(at);
    }
    lines.push_back(line);
  }
  return lines;
}

// The name the machinery records: GCC's std::source_location gives the
// qualified name; clang 14 (no std::source_location) the bare one.
std::string function_name(std::string qualified) {
#if defined(__cpp_lib_source_location)
  return qualified;
#else
  return qualified.substr(qualified.rfind("::") + 2);
#endif
}

std::string at(const char* function, int line) {
  return function_name(function) + " at gen/coroutine_dump_test.cc:" +
         std::to_string(line);
}

TEST(CoroutineDumpTest, KnownTreeLineByLine) {
  IOLoop loop;
  loop.make_current();
  Lines l;
  Future<int> never;
  Future<void> f = top(&l, never);
  loop.run_sync([] { return gen::sleep(1ms); });
  EXPECT_EQ(dump_lines(loop),
            (std::vector<std::string>{
                at("tornado::{anonymous}::top", l.top) + " awaiting coroutine",
                "  " + at("tornado::{anonymous}::mid", l.mid) + " awaiting multi",
                "    " + at("tornado::{anonymous}::leaf_sleep", l.sleeper) +
                    " awaiting sleep",
                "    " + at("tornado::{anonymous}::leaf_never", l.waiter) +
                    " awaiting future",
            }));
  loop.close();
}

TEST(CoroutineDumpTest, WaitingTimeIsReported) {
  IOLoop loop;
  loop.make_current();
  Future<int> never;
  Lines l;
  Future<void> f = leaf_never(&l, never);
  loop.run_sync([] { return gen::sleep(30ms); });
  std::ostringstream os;
  EXPECT_EQ(gen::dump_coroutines(os, loop), 1u);
  std::string s = os.str();
  size_t at = s.rfind(" for ");
  ASSERT_NE(at, std::string::npos) << s;
  EXPECT_GE(std::stoi(s.substr(at + 5)), 20);  // coarse clock: some slack
  loop.close();
}

Future<void> failing_leaf(int* line) {
  co_await gen::moment;
  *line = __LINE__ + 1;
  throw std::runtime_error("deep failure");
}

Future<void> failing_mid(int* leaf_line, int* line) {
  *line = __LINE__ + 1;
  co_await failing_leaf(leaf_line);
}

Future<void> failing_top(int* leaf_line, int* mid_line, int* line) {
  *line = __LINE__ + 1;
  co_await failing_mid(leaf_line, mid_line);
}

TEST(CoroutineDumpTest, ExceptionLogNamesTheWholeAsyncChain) {
  std::vector<std::string> log;
  logging::ScopedSink sink(
      [&](logging::Level, std::string_view s) { log.emplace_back(s); });
  IOLoop loop;
  loop.make_current();
  int leaf = 0, mid_line = 0, top_line = 0;
  {
    Future<void> f = failing_top(&leaf, &mid_line, &top_line);
    loop.run_sync([] { return gen::sleep(2ms); });
    EXPECT_TRUE(f.done());
  }  // dropped unread: logged
  ASSERT_EQ(log.size(), 1u);
  // The leaf's chain: its last co_await (the moment, one line above the
  // throw), then each coroutine awaiting it.
  EXPECT_EQ(log[0],
            "Future exception was never retrieved: std::runtime_error: deep "
            "failure\n    in coroutine " +
                at("tornado::{anonymous}::failing_leaf", leaf - 2) +
                "\n    awaited by " +
                at("tornado::{anonymous}::failing_mid", mid_line) +
                "\n    awaited by " +
                at("tornado::{anonymous}::failing_top", top_line));
  loop.close();
}

Future<void> churn(int trips) {
  for (int i = 0; i < trips; ++i) co_await gen::moment;
}

TEST(CoroutineDumpTest, DumpingWhileCoroutinesCompleteIsSafe) {
  IOLoop loop;
  loop.make_current();
  std::vector<Future<void>> running;
  for (int i = 0; i < 500; ++i) running.push_back(churn(1 + i % 50));
  size_t dumps = 0, seen = 0;
  PeriodicCallback dumper(
      [&] {
        std::ostringstream os;
        seen += gen::dump_coroutines(os, loop);
        ++dumps;
      },
      100us, &loop);
  dumper.start();
  loop.run_sync([&] { return gen::multi(running); });
  dumper.stop();
  EXPECT_GT(dumps, 0u);
  std::ostringstream os;
  EXPECT_EQ(gen::dump_coroutines(os, loop), 0u);  // all finished
  loop.close();
}

TEST(CoroutineDumpTest, SignalSchedulesADumpToStderr) {
  IOLoop loop;
  loop.make_current();
  Lines l;
  Future<int> never;
  Future<void> f = leaf_never(&l, never);
  std::ostringstream captured;
  std::streambuf* old = std::cerr.rdbuf(captured.rdbuf());
  gen::install_dump_on_signal(loop, SIGUSR2);
  loop.call_later(1ms, [] { raise(SIGUSR2); });
  loop.run_sync([] { return gen::sleep(20ms); });
  std::cerr.rdbuf(old);
  signal(SIGUSR2, SIG_DFL);
  EXPECT_NE(captured.str().find(at("tornado::{anonymous}::leaf_never", l.waiter) +
                                " awaiting future"),
            std::string::npos)
      << captured.str();
  loop.close();
}

}  // namespace
}  // namespace tornado
