// -----------------------------------------------------------------------------
// async_test.h
// -----------------------------------------------------------------------------
//
// A GoogleTest fixture for code on the IOLoop: Tornado's `AsyncTestCase` +
// `gen_test` + `ExpectLog`, asyncio's `IsolatedAsyncioTestCase`, folly's
// `CO_TEST`.
//
//   class EchoTest : public tornado::testing::AsyncTest {};
//
//   TEST_F(EchoTest, EchoesOneLine) {
//     tornado::TCPServer server(handle_echo);
//     int port = listen_on_unused_port(server);
//     run([&]() -> tornado::Future<void> {        // a coroutine test body
//       tornado::TCPClient client;
//       tornado::IOStream s = co_await client.connect("127.0.0.1", port);
//       co_await s.write("hi\n");
//       EXPECT_EQ(co_await s.read_until("\n"), "hi\n");
//     });
//   }
//
// What the fixture does:
//   - owns a fresh IOLoop, current on the test's thread for the test's
//     duration (the previous current loop comes back after);
//   - `run(body, timeout)` runs a coroutine (or plain) body on it with a
//     timeout (default 5 s, `TORNADO_ASYNC_TEST_TIMEOUT_MS` overrides); on
//     timeout the test fails with the coroutine dump of what is still
//     suspended, instead of hanging;
//   - captures every log line; an ERROR line that no `ExpectLog` expected
//     fails the test (Tornado's ExpectLog discipline);
//   - at teardown, runs the loop briefly so callbacks already queued finish,
//     then closes it; what the close itself logs (futures of handlers the
//     loop destroys: "never retrieved") is not held against the test.
//
// Thread-safety: a fixture belongs to its test's thread; the log capture
// is thread-safe (other threads may log).

#ifndef TORNADO_TESTING_ASYNC_TEST_H_
#define TORNADO_TESTING_ASYNC_TEST_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/logging/logging.h"

namespace tornado::testing {

class ExpectLog;

// One captured line.
struct LogLine {
  logging::Level level;
  std::string text;
};

// AsyncTest
//
// See the file comment.
class AsyncTest : public ::testing::Test {
 public:
  using duration = IOLoop::duration;

  AsyncTest();
  ~AsyncTest() override;

  // The test's loop (current on this thread).
  IOLoop& loop() { return *loop_; }

  // Runs `body()` (a callable returning Future<T> or T) on the loop and
  // returns its value; rethrows its exception. Fails the test (and throws
  // TimeoutError) if it is not done within `timeout`.
  template <class F>
  auto run(F body, duration timeout = default_timeout()) {
    try {
      return loop_->run_sync(std::move(body), timeout);
    } catch (const TimeoutError&) {
      report_timeout(timeout);
      throw;
    }
  }

  // One loop iteration: the callbacks queued now run, and what they
  // schedule waits (asyncio's test_utils.run_briefly).
  void run_once();

  // Runs the loop until `f` is done, whatever its outcome (it is not
  // read); fails the test (and throws TimeoutError) after `timeout`.
  template <class T>
  void run_until_done(const Future<T>& f, duration timeout = default_timeout()) {
    run(
        [f = Future<T>(f)]() mutable {
          Future<void> done;
          f.add_done_callback([done](const Future<T>&) mutable { done.set_result(); });
          return done;
        },
        timeout);
  }

  // Listens `server` (anything with listen(port, address) and port()) on
  // an unused loopback port and returns the port.
  template <class Server>
  int listen_on_unused_port(Server& server) {
    server.listen(0, "127.0.0.1");
    return server.port();
  }

  // Every line logged since the fixture was made.
  std::vector<LogLine> log_lines() const;
  // True if a logged line contains `needle`.
  bool logged(std::string_view needle) const;

  // 5 s, or TORNADO_ASYNC_TEST_TIMEOUT_MS.
  static duration default_timeout();

 protected:
  void TearDown() override;

 private:
  friend class ExpectLog;
  struct Capture;

  void report_timeout(duration timeout);

  std::shared_ptr<Capture> capture_;
  std::unique_ptr<logging::ScopedSink> sink_;
  IOLoop* previous_current_;
  std::unique_ptr<IOLoop> loop_;
};

// failure() / holds<E>(): a done future's exception (null on success;
// a pending one fails the test), and whether an exception is an `E`.
//
//   EXPECT_TRUE(tornado::testing::holds<StreamClosedError>(failure(read)));
template <class T>
std::exception_ptr failure(const Future<T>& f) {
  EXPECT_TRUE(f.done());
  return f.done() ? f.exception() : nullptr;
}
template <class E>
bool holds(const std::exception_ptr& e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
  }
  return false;
}

// ExpectLog
//
// RAII: while alive, log lines containing `needle` are expected (they do
// not fail the test); when it ends, the test fails unless at least
// `min_count` such lines were logged (`required = false`: zero is fine).
//
//   {
//     tornado::testing::ExpectLog expect(*this, "Exception in callback");
//     loop().add_callback([] { throw std::runtime_error("x"); });
//     run([] { return tornado::gen::sleep(std::chrono::milliseconds(1)); });
//   }
class ExpectLog {
 public:
  ExpectLog(AsyncTest& test, std::string needle, int min_count = 1);
  ~ExpectLog();
  ExpectLog(const ExpectLog&) = delete;
  ExpectLog& operator=(const ExpectLog&) = delete;

  // Lines matched so far.
  int count() const;

 private:
  std::shared_ptr<AsyncTest::Capture> capture_;
  size_t id_;
  int min_count_;
  std::string needle_;
};

}  // namespace tornado::testing

#endif  // TORNADO_TESTING_ASYNC_TEST_H_
