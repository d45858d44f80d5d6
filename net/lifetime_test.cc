// What may outlive a loop in //net: an IOStream handle kept after its loop
// is destroyed, a TCPServer destroyed while its coroutine handlers run, a
// handler capturing a move-only value. Before, IOStream and TCPServer held
// a raw IOLoop* (use after free once the loop was gone) and TCPServer's
// handler was a std::function destroyed with the server.

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpclient.h"
#include "tornado/net/tcpserver.h"
#include "tornado/testing/async_test.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

TEST(NetLifetime, AStreamOutlivingItsLoopOnlyClosesItsFd) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::unique_ptr<IOStream> kept;
  Future<std::string> read;
  {
    IOLoop loop;
    kept = std::make_unique<IOStream>(sv[0], &loop);
    read = kept->read_bytes(4);  // registers a handler on the loop
  }
  EXPECT_FALSE(kept->closed());
  kept->close();  // used to ask the freed loop whether it was closed
  EXPECT_TRUE(kept->closed());
  ASSERT_TRUE(read.done());
  EXPECT_THROW(read.result(), StreamClosedError);
  kept.reset();
  close(sv[1]);
}

class NetLifetimeTest : public testing::AsyncTest {};

TEST_F(NetLifetimeTest, CoroutineHandlerOutlivesTheServer) {
  auto server = std::make_unique<TCPServer>(
      [owned = std::make_unique<std::string>("reply\n")](
          IOStream stream, std::string) -> Future<void> {
        std::string line = co_await stream.read_until("\n");
        co_await gen::sleep(5ms);  // the server is destroyed meanwhile
        co_await stream.write(*owned + line);  // the capture is still alive
      });
  const int port = listen_on_unused_port(*server);
  std::string got = run([&]() -> Future<std::string> {
        TCPClient client;
        IOStream s = co_await client.connect("127.0.0.1", port);
        co_await s.write("hi\n");
        co_await gen::moment;
        co_await gen::moment;
        server.reset();  // stops listening; the connection goes on
        std::string a = co_await s.read_until("\n");
        std::string b = co_await s.read_until("\n");
        co_return a + b;
      });
  EXPECT_EQ(got, "reply\nhi\n");
}

}  // namespace
}  // namespace tornado
