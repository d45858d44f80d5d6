// TCPServer's connection management: the idle timeout, `connections()`,
// and graceful shutdown with `close_all(deadline)` (the networking issue's
// server items). Run under --config=asan as well: the server may be
// destroyed while its handlers, idle timers and a close_all are pending.

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpclient.h"
#include "tornado/net/tcpserver.h"
#include "tornado/testing/async_test.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class ConnectionsTest : public testing::AsyncTest {
 protected:
  Future<IOStream> connect(int port) {
    return TCPClient(&loop()).connect("127.0.0.1", port);
  }
};

// Whether `e` is a StreamClosedError caused by a TimeoutError.
bool closed_by_timeout(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const StreamClosedError& closed) {
    if (!closed.real_error()) return false;
    try {
      std::rethrow_exception(closed.real_error());
    } catch (const TimeoutError&) {
      return true;
    } catch (...) {
      return false;
    }
  } catch (...) {
    return false;
  }
}

// Sets a flag when destroyed: a handler's local, to see its frame unwind.
struct SetOnDestroy {
  bool* flag;
  ~SetOnDestroy() { *flag = true; }
};

// ---- idle timeout -----------------------------------------------------------

// A client that connects and says nothing is closed after the idle timeout;
// the handler's pending read fails with StreamClosedError(TimeoutError),
// and the client reads EOF.
TEST_F(ConnectionsTest, IdleTimeoutClosesASilentConnection) {
  std::exception_ptr handler_error;
  Future<void> handler_failed;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        try {
          co_await stream.read_until("\n");
        } catch (...) {
          handler_error = std::current_exception();
        }
        handler_failed.set_result();
      },
      &loop());
  server.set_idle_timeout(50ms);
  EXPECT_EQ(server.idle_timeout(), 50ms);
  const int port = listen_on_unused_port(server);
  const IOLoop::time_point start = loop().time();
  std::string rest = run([&]() -> Future<std::string> {
    IOStream client = co_await connect(port);
    co_await handler_failed;
    co_return co_await client.read_until_close();
  });
  EXPECT_TRUE(closed_by_timeout(handler_error));
  EXPECT_EQ(rest, "");
  EXPECT_GE(loop().time() - start, 50ms);  // not before the timeout
  EXPECT_EQ(server.connections(), 0u);
}

// A client that sends a line every 10 ms for three times the idle timeout
// is never closed: every line is echoed. (The timeout is far above the
// period so that a stalled machine cannot make the client look idle.)
TEST_F(ConnectionsTest, IdleTimeoutSparesAnActiveConnection) {
  std::exception_ptr handler_error;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        try {
          for (;;) {
            std::string line = co_await stream.read_until("\n");
            co_await stream.write(std::move(line));
          }
        } catch (const StreamClosedError&) {
          handler_error = std::current_exception();
        }
      },
      &loop());
  server.set_idle_timeout(250ms);
  const int port = listen_on_unused_port(server);
  int echoed = run([&]() -> Future<int> {
    IOStream client = co_await connect(port);
    int n = 0;
    const IOLoop::time_point until = loop().time() + 750ms;
    while (loop().time() < until) {
      co_await client.write("ping " + std::to_string(n) + "\n");
      EXPECT_EQ(co_await client.read_until("\n"), "ping " + std::to_string(n) + "\n");
      ++n;
      co_await gen::sleep(10ms);
    }
    EXPECT_FALSE(client.closed());
    EXPECT_EQ(server.connections(), 1u);
    client.close();
    while (server.connections() > 0) co_await gen::moment;
    co_return n;
  });
  EXPECT_GT(echoed, 30);
  EXPECT_FALSE(closed_by_timeout(handler_error));  // the client's close
}

// Activity in one direction counts: a handler streaming to a client that
// reads everything (and sends nothing) is not idle.
TEST_F(ConnectionsTest, IdleTimeoutCountsWritesAsActivity) {
  bool handler_finished_writing = false;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        for (int i = 0; i < 60; ++i) {
          co_await stream.write("tick\n");
          co_await gen::sleep(10ms);
        }
        handler_finished_writing = true;
      },
      &loop());
  server.set_idle_timeout(250ms);  // far above the 10 ms period
  const int port = listen_on_unused_port(server);
  std::string got = run([&]() -> Future<std::string> {
    IOStream client = co_await connect(port);
    co_return co_await client.read_until_close();
  });
  EXPECT_TRUE(handler_finished_writing);
  std::string expected;
  for (int i = 0; i < 60; ++i) expected += "tick\n";
  EXPECT_EQ(got, expected);
}

// set_idle_timeout applies to connections already open; 0 turns it off.
TEST_F(ConnectionsTest, SetIdleTimeoutAppliesToOpenConnections) {
  std::exception_ptr handler_error;
  Future<void> handler_failed;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        try {
          co_await stream.read_until("\n");
        } catch (...) {
          handler_error = std::current_exception();
        }
        handler_failed.set_result();
      },
      &loop());
  const int port = listen_on_unused_port(server);
  run([&]() -> Future<void> {
    IOStream client = co_await connect(port);
    while (server.connections() == 0) co_await gen::moment;
    server.set_idle_timeout(30ms);
    server.set_idle_timeout(0ms);  // off again: nothing is closed
    co_await gen::sleep(100ms);
    EXPECT_FALSE(handler_failed.done());
    server.set_idle_timeout(30ms);
    co_await handler_failed;
  });
  EXPECT_TRUE(closed_by_timeout(handler_error));
}

// ---- connections() and stop() -------------------------------------------

TEST_F(ConnectionsTest, ConnectionsCountsRunningHandlers) {
  Future<void> release;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        co_await release;
        co_await stream.write("bye\n");
      },
      &loop());
  const int port = listen_on_unused_port(server);
  EXPECT_EQ(server.connections(), 0u);
  run([&]() -> Future<void> {
    IOStream a = co_await connect(port);
    IOStream b = co_await connect(port);
    while (server.connections() < 2) co_await gen::moment;
    EXPECT_EQ(server.connections(), 2u);
    release.set_result();
    EXPECT_EQ(co_await a.read_until_close(), "bye\n");
    EXPECT_EQ(co_await b.read_until_close(), "bye\n");
    // The handlers' frames are gone by the next iteration.
    co_await gen::moment;
    EXPECT_EQ(server.connections(), 0u);
  });
}

TEST_F(ConnectionsTest, NoConnectionIsAcceptedAfterStop) {
  int handled = 0;
  TCPServer server(
      [&](IOStream, std::string) { ++handled; }, &loop());
  const int port = listen_on_unused_port(server);
  server.stop();
  server.stop();  // idempotent
  bool refused = false;
  run([&]() -> Future<void> {
    try {
      co_await connect(port);
    } catch (const std::system_error&) {
      refused = true;
    }
  });
  EXPECT_TRUE(refused);
  EXPECT_EQ(handled, 0);
}

// ---- close_all --------------------------------------------------------------

// A handler blocked in a read past the deadline: its stream is closed, the
// read fails (StreamClosedError caused by a TimeoutError), its catch block
// runs and its locals are destroyed before close_all's future completes.
TEST_F(ConnectionsTest, CloseAllClosesWhatIsLeftAtTheDeadline) {
  bool caught = false, local_destroyed = false, timeout_cause = false;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        SetOnDestroy guard{&local_destroyed};
        try {
          for (;;) co_await stream.write(co_await stream.read_until("\n"));
        } catch (const StreamClosedError&) {
          caught = true;
          timeout_cause = closed_by_timeout(std::current_exception());
        }
      },
      &loop());
  const int port = listen_on_unused_port(server);
  std::string rest = run([&]() -> Future<std::string> {
    IOStream client = co_await connect(port);
    co_await client.write("one\n");
    EXPECT_EQ(co_await client.read_until("\n"), "one\n");
    EXPECT_EQ(server.connections(), 1u);
    co_await server.close_all(20ms);
    EXPECT_TRUE(caught);
    EXPECT_TRUE(local_destroyed);
    EXPECT_EQ(server.connections(), 0u);
    co_return co_await client.read_until_close();
  });
  EXPECT_TRUE(timeout_cause);
  EXPECT_EQ(rest, "");
}

// Handlers that finish before the deadline end the wait early: with an
// hour's deadline, close_all completes as soon as the last one returns,
// and its client got every reply (nothing was closed under it).
TEST_F(ConnectionsTest, CloseAllCompletesWhenTheLastHandlerFinishes) {
  int finished = 0;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        std::string line = co_await stream.read_until("\n");
        co_await stream.write("done " + line);
        ++finished;
      },
      &loop());
  const int port = listen_on_unused_port(server);
  run([&]() -> Future<void> {
    IOStream a = co_await connect(port);
    IOStream b = co_await connect(port);
    while (server.connections() < 2) co_await gen::moment;
    Future<void> drained = server.close_all(1h);
    co_await gen::sleep(5ms);
    EXPECT_FALSE(drained.done());  // both handlers are still reading
    co_await a.write("a\n");
    EXPECT_EQ(co_await a.read_until("\n"), "done a\n");
    co_await gen::sleep(5ms);
    EXPECT_FALSE(drained.done());  // b's handler still runs
    co_await b.write("b\n");
    EXPECT_EQ(co_await b.read_until("\n"), "done b\n");
    co_await drained;  // long before the hour (run's timeout is 5 s)
    EXPECT_EQ(finished, 2);
  });
}

TEST_F(ConnectionsTest, CloseAllWithoutConnectionsIsDoneAtOnce) {
  TCPServer server([](IOStream, std::string) {}, &loop());
  listen_on_unused_port(server);
  EXPECT_TRUE(server.close_all(1h).done());
}

// close_all stops accepting.
TEST_F(ConnectionsTest, CloseAllStopsAccepting) {
  TCPServer server(
      [](IOStream stream, std::string) -> Future<void> {
        co_await stream.read_until_close();
      },
      &loop());
  const int port = listen_on_unused_port(server);
  bool refused = false;
  run([&]() -> Future<void> {
    IOStream a = co_await connect(port);
    while (server.connections() < 1) co_await gen::moment;
    Future<void> drained = server.close_all(1h);
    try {
      co_await connect(port);
    } catch (const std::system_error&) {
      refused = true;
    }
    a.close();
    co_await drained;
  });
  EXPECT_TRUE(refused);
}

// A plain-function handler returns at once and leaves its stream to
// callbacks: the connection counts until the stream closes, and close_all
// closes it at the deadline (its pending read fails).
TEST_F(ConnectionsTest, CloseAllClosesStreamsOfPlainHandlers) {
  std::exception_ptr read_error;
  TCPServer server(
      [&](IOStream stream, std::string) {
        stream.read_until("\n").add_done_callback(
            [&read_error, stream](Future<std::string> f) {
              read_error = f.exception();
            });
      },
      &loop());
  const int port = listen_on_unused_port(server);
  run([&]() -> Future<void> {
    IOStream client = co_await connect(port);
    while (server.connections() < 1) co_await gen::moment;
    co_await gen::sleep(5ms);
    EXPECT_EQ(server.connections(), 1u);  // the handler returned long ago
    co_await server.close_all(10ms);
    EXPECT_EQ(server.connections(), 0u);
    EXPECT_EQ(co_await client.read_until_close(), "");
  });
  EXPECT_TRUE(closed_by_timeout(read_error));
}

// A plain handler's stream closed before the deadline (the peer left) ends
// the wait early too.
TEST_F(ConnectionsTest, CloseAllNoticesPlainHandlersStreamsClosing) {
  TCPServer server(
      [&](IOStream stream, std::string) {
        stream.read_until_close().add_done_callback(
            [stream](Future<std::string> f) { f.exception(); });
      },
      &loop());
  const int port = listen_on_unused_port(server);
  run([&]() -> Future<void> {
    IOStream client = co_await connect(port);
    while (server.connections() < 1) co_await gen::moment;
    Future<void> drained = server.close_all(1h);
    client.close();
    co_await drained;  // within run's 5 s, not the hour
  });
}

// The server destroyed while close_all runs: the drain goes on and
// completes (ASan: nothing refers to the destroyed server).
TEST_F(ConnectionsTest, CloseAllOutlivesTheServer) {
  bool caught = false;
  auto server = std::make_unique<TCPServer>(
      [&](IOStream stream, std::string) -> Future<void> {
        try {
          co_await stream.read_until("\n");
        } catch (const StreamClosedError&) {
          caught = true;
        }
      },
      &loop());
  const int port = listen_on_unused_port(*server);
  run([&]() -> Future<void> {
    IOStream client = co_await connect(port);
    while (server->connections() < 1) co_await gen::moment;
    Future<void> drained = server->close_all(10ms);
    server.reset();
    co_await drained;
    EXPECT_TRUE(caught);
  });
}

// A second close_all while one runs returns the same wait, with the
// earlier deadline.
TEST_F(ConnectionsTest, CloseAllTwiceTakesTheEarlierDeadline) {
  TCPServer server(
      [](IOStream stream, std::string) -> Future<void> {
        try {
          co_await stream.read_until("\n");
        } catch (const StreamClosedError&) {
        }
      },
      &loop());
  const int port = listen_on_unused_port(server);
  run([&]() -> Future<void> {
    IOStream client = co_await connect(port);
    while (server.connections() < 1) co_await gen::moment;
    Future<void> first = server.close_all(1h);
    Future<void> second = server.close_all(10ms);
    EXPECT_TRUE(first == second);
    co_await first;  // at 10 ms, not in an hour
  });
}

// Destroying the server with idle timers armed and handlers running: the
// timers are withdrawn, the handlers go on (ASan).
TEST_F(ConnectionsTest, ServerDestroyedWithIdleTimersArmed) {
  auto server = std::make_unique<TCPServer>(
      [](IOStream stream, std::string) -> Future<void> {
        std::string line = co_await stream.read_until("\n");
        co_await stream.write(line);
      },
      &loop());
  server->set_idle_timeout(20ms);
  const int port = listen_on_unused_port(*server);
  run([&]() -> Future<void> {
    IOStream client = co_await connect(port);
    while (server->connections() < 1) co_await gen::moment;
    server.reset();
    co_await gen::sleep(60ms);  // past the idle timeout: not closed
    co_await client.write("still here\n");
    EXPECT_EQ(co_await client.read_until("\n"), "still here\n");
  });
}

}  // namespace
}  // namespace tornado
