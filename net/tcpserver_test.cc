// Tornado 4.5.3's tornado/test/tcpserver_test.py, ported: each TEST names
// the Tornado test it follows (TCPServerTest.test_*). All three of its
// tests apply:
//   - test_handle_stream_coroutine_logging -> HandleStreamCoroutineLogging
//   - test_handle_stream_native_coroutine  -> HandleStreamNativeCoroutine
//   - test_stop_twice                      -> StopTwice
// What of them does not carry over, and why:
//   - `@skipBefore35` and `exec_test` (the `async def` handler is compiled
//     only on Python 3.5+): Python version machinery. C++ has one kind of
//     coroutine, so "native" and `@gen.coroutine` handlers are the same
//     thing here; the native test keeps its point (a handler that writes
//     without waiting, then closes: the data still arrives).
//   - The Python `1 / 0` is a thrown std::runtime_error; Tornado's log
//     line "Exception in callback" is ours "Error in connection handler"
//     (TCPServer reports a failed handler's future itself).
// Porting test_handle_stream_coroutine_logging found a bug: TCPServer's
// add_sockets did not accept until start() was called, whereas Tornado's
// add_sockets (and add_socket, which the test uses) accepts at once; a
// server set up the Tornado way never accepted anything (the test timed
// out). Fixed in tcpserver.cc; the test calls add_sockets only.
// Beyond the file: HandleStreamCoroutineDoesNotBlockAccepting follows
// handle_stream's docstring ("Accepting of incoming connections will not
// be blocked by this coroutine").

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpclient.h"
#include "tornado/net/tcpserver.h"
#include "tornado/stack_context/stack_context.h"
#include "tornado/testing/async_test.h"

namespace tornado {
namespace {

class TCPServerTest : public testing::AsyncTest {};

// Tornado's testing.bind_unused_port: a listening loopback socket on a
// free port.
int bind_unused_port(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(fd, 128), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

// test_handle_stream_coroutine_logging: handle_stream may be a coroutine,
// and an exception escaping it is logged.
TEST_F(TCPServerTest, HandleStreamCoroutineLogging) {
  class TestServer : public TCPServer {
   public:
    using TCPServer::TCPServer;

   protected:
    Future<void> handle_stream(IOStream stream, std::string) override {
      co_await gen::moment;
      stream.close();
      throw std::runtime_error("division by zero");
    }
  };
  int port = 0;
  const int sock = bind_unused_port(&port);
  std::unique_ptr<TestServer> server;
  {
    NullContext null_context;
    server = std::make_unique<TestServer>(nullptr, &loop());
    server->add_sockets({sock});  // accepts at once, as Tornado's add_socket
  }
  {
    testing::ExpectLog expect(*this, "Error in connection handler");
    run([&]() -> Future<void> {
      IOStream client = co_await TCPClient(&loop()).connect("localhost", port);
      co_await client.read_until_close();
      co_await gen::moment;
    });
    EXPECT_TRUE(logged("division by zero"));
  }
  server->stop();
}

// test_handle_stream_native_coroutine: a coroutine handler that writes
// (without waiting for the write) and closes; the client reads the data.
TEST_F(TCPServerTest, HandleStreamNativeCoroutine) {
  class TestServer : public TCPServer {
   public:
    using TCPServer::TCPServer;

   protected:
    Future<void> handle_stream(IOStream stream, std::string) override {
      static_cast<void>(stream.write("data"));  // not waited for
      stream.close();
      co_return;
    }
  };
  int port = 0;
  const int sock = bind_unused_port(&port);
  TestServer server(nullptr, &loop());
  server.add_sockets({sock});
  std::string result = run([&]() -> Future<std::string> {
    IOStream client = co_await TCPClient(&loop()).connect("localhost", port);
    co_return co_await client.read_until_close();
  });
  EXPECT_EQ(result, "data");
  server.stop();
}

// test_stop_twice.
TEST_F(TCPServerTest, StopTwice) {
  int port = 0;
  const int sock = bind_unused_port(&port);
  TCPServer server(nullptr, &loop());
  server.add_sockets({sock});
  server.stop();
  server.stop();
}  // and the destructor's stop, a third

// handle_stream's docstring: a handler coroutine that is suspended does not
// hold up accepting the next connection.
TEST_F(TCPServerTest, HandleStreamCoroutineDoesNotBlockAccepting) {
  Future<void> release;
  int started = 0;
  TCPServer server(
      [&](IOStream stream, std::string) -> Future<void> {
        ++started;
        co_await release;
        co_await stream.write("released\n");
      },
      &loop());
  const int port = listen_on_unused_port(server);
  run([&]() -> Future<void> {
    IOStream a = co_await TCPClient(&loop()).connect("127.0.0.1", port);
    IOStream b = co_await TCPClient(&loop()).connect("127.0.0.1", port);
    while (started < 2) co_await gen::moment;
    release.set_result();
    EXPECT_EQ(co_await a.read_until("\n"), "released\n");
    EXPECT_EQ(co_await b.read_until("\n"), "released\n");
  });
}

}  // namespace
}  // namespace tornado
