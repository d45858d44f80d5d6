// What a real server configures: a listen backlog, sockets it adopts
// (made elsewhere, or a unix socket from bind_unix_socket), and the TCP
// options of its streams (nodelay, keepalive, user timeout).

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpclient.h"
#include "tornado/net/tcpserver.h"
#include "tornado/testing/async_test.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class ServerOptionsTest : public testing::AsyncTest {};

Future<void> echo_line(IOStream stream, std::string) {
  std::string line = co_await stream.read_until("\n", 1024);
  co_await stream.write(line);
}

Future<std::string> ask(int port, std::string line) {
  TCPClient client;
  IOStream s = co_await client.connect("127.0.0.1", port);
  co_await s.write(std::move(line));
  co_return co_await s.read_until("\n");
}

int getopt_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

TEST_F(ServerOptionsTest, ListenTakesABacklog) {
  TCPServer server(echo_line);
  server.listen(0, "127.0.0.1", 16);
  EXPECT_EQ(run([&] { return ask(server.port(), "backlog\n"); }), "backlog\n");
}

TEST_F(ServerOptionsTest, AddSocketsAdoptsAListeningSocket) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  TCPServer server(echo_line);
  server.add_sockets({fd});
  server.start();
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(run([&] { return ask(server.port(), "adopted\n"); }), "adopted\n");
}

TEST_F(ServerOptionsTest, AddSocketsRejectsANonListeningSocket) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  TCPServer server(echo_line);
  EXPECT_THROW(server.add_sockets({fd}), std::invalid_argument);
  EXPECT_THROW(server.add_sockets({-1}), std::invalid_argument);
  ::close(fd);  // not adopted: still ours
}

// A short directory of our own (TEST_TMPDIR is too long for sun_path).
std::string socket_path(const char* name) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/tornado-test-XXXXXX";
    const char* made = mkdtemp(tmpl);
    return std::string(made != nullptr ? made : "/tmp");
  }();
  return dir + "/" + name;
}

TEST_F(ServerOptionsTest, UnixSocketServer) {
  const std::string path = socket_path("echo.sock");
  std::string peer;
  TCPServer server([&](IOStream stream, std::string address) -> Future<void> {
    peer = address;
    std::string line = co_await stream.read_until("\n", 1024);
    co_await stream.write(line);
  });
  int fd = bind_unix_socket(path, 0600);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  server.add_sockets({fd});
  server.start();
  std::string got = run([&]() -> Future<std::string> {
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    EXPECT_EQ(connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    IOStream s(c);
    co_await s.write("over unix\n");
    co_return co_await s.read_until("\n");
  });
  EXPECT_EQ(got, "over unix\n");
  EXPECT_EQ(peer, "unix");
  // A stale socket file is replaced; another kind of file is an error.
  server.stop();
  int again = bind_unix_socket(path);
  ::close(again);
  const std::string regular = socket_path("not-a-socket");
  FILE* f = std::fopen(regular.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_THROW(bind_unix_socket(regular), std::system_error);
  EXPECT_THROW(bind_unix_socket(std::string(200, 'x')), std::invalid_argument);
  ::unlink(regular.c_str());
  ::unlink(path.c_str());
}

TEST_F(ServerOptionsTest, StreamSocketOptions) {
  TCPServer server(echo_line);
  const int port = listen_on_unused_port(server);
  run([&]() -> Future<void> {
    TCPClient client;
    IOStream s = co_await client.connect("127.0.0.1", port);
    const int fd = s.fileno();
    s.set_nodelay(true);
    EXPECT_EQ(getopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    s.set_nodelay(false);
    EXPECT_EQ(getopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    s.set_keepalive(30s, 5s, 4);
    EXPECT_EQ(getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    EXPECT_EQ(getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
    EXPECT_EQ(getopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
    EXPECT_EQ(getopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
    EXPECT_THROW(s.set_keepalive(0s, 5s, 4), std::invalid_argument);
    s.set_user_timeout(2500ms);
    EXPECT_EQ(getopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
    EXPECT_THROW(s.set_user_timeout(-1ms), std::invalid_argument);
    co_await s.write("opts\n");
    EXPECT_EQ(co_await s.read_until("\n"), "opts\n");
  });
}

}  // namespace
}  // namespace tornado
