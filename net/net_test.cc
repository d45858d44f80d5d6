// IOStream, TCPServer and TCPClient on loopback only.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include <string>
#include <vector>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/logging/logging.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpclient.h"
#include "tornado/net/tcpserver.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class NetTest : public ::testing::Test {
 protected:
  NetTest() { loop_.make_current(); }
  ~NetTest() override { loop_.close(); }

  // A connected pair: an IOStream and the raw peer fd.
  std::pair<IOStream, int> stream_pair(IOStream::Options options = {}) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    peers_.push_back(sv[1]);
    return {IOStream(sv[0], &loop_, options), sv[1]};
  }
  void close_peer(int fd) {
    ::close(fd);
    peers_.erase(std::remove(peers_.begin(), peers_.end(), fd), peers_.end());
  }
  template <class F>
  auto run(F f) {
    return loop_.run_sync(std::move(f), 5s);
  }

  std::vector<std::string> log_;
  logging::ScopedSink sink_{[this](logging::Level, std::string_view s) {
    log_.emplace_back(s);
  }};
  IOLoop loop_;
  std::vector<int> peers_;

 public:
  void TearDown() override {
    for (int fd : peers_) ::close(fd);
  }
};

TEST_F(NetTest, ReadBytesWaitsForAllUnlessPartial) {
  auto pair1 = stream_pair();
  auto& stream = pair1.first;
  auto& peer = pair1.second;
  loop_.call_later(1ms, [peer = peer] { ASSERT_EQ(write(peer, "abc", 3), 3); });
  loop_.call_later(5ms, [peer = peer] { ASSERT_EQ(write(peer, "defg", 4), 4); });
  EXPECT_EQ(run([&] { return stream.read_bytes(5); }), "abcde");
  EXPECT_EQ(run([&] { return stream.read_bytes(10, true); }), "fg");
}

TEST_F(NetTest, DelimiterSplitOverPackets) {
  auto pair2 = stream_pair();
  auto& stream = pair2.first;
  auto& peer = pair2.second;
  loop_.call_later(1ms, [p = peer] { ASSERT_EQ(write(p, "hel", 3), 3); });
  loop_.call_later(3ms, [p = peer] { ASSERT_EQ(write(p, "lo\r", 3), 3); });
  loop_.call_later(5ms, [p = peer] { ASSERT_EQ(write(p, "\nworld\r\n", 8), 8); });
  auto coro = [&, s = stream]() mutable -> Future<std::vector<std::string>> {
    std::vector<std::string> lines;
    lines.push_back(co_await s.read_until("\r\n"));
    lines.push_back(co_await s.read_until("\r\n"));
    co_return lines;
  };
  EXPECT_EQ(run(coro), (std::vector<std::string>{"hello\r\n", "world\r\n"}));
}

TEST_F(NetTest, LargeWriteIsFlushedInPiecesAndReadBack) {
  auto pair3 = stream_pair();
  auto& a = pair3.first;
  auto& b_fd = pair3.second;
  IOStream b(b_fd, &loop_);
  peers_.erase(std::remove(peers_.begin(), peers_.end(), b_fd), peers_.end());
  std::string big(8 * 1024 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  Future<void> written = a.write(big);
  EXPECT_FALSE(written.done());  // more than the socket buffer: partial
  EXPECT_TRUE(a.writing());
  auto got = run([&, b = b]() mutable { return b.read_bytes(big.size()); });
  EXPECT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big);
  EXPECT_TRUE(written.done());
  EXPECT_FALSE(a.writing());
}

TEST_F(NetTest, WritesCompleteInOrder) {
  auto pair4 = stream_pair();
  auto& a = pair4.first;
  auto& peer = pair4.second;
  std::vector<int> done;
  for (int i = 0; i < 3; ++i) {
    a.write(std::string(1000, 'a' + i)).add_done_callback([&, i](Future<void>) {
      done.push_back(i);
    });
  }
  run([] { return gen::sleep(1ms); });
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2}));
  char buf[4000];
  EXPECT_EQ(read(peer, buf, sizeof buf), 3000);
}

TEST_F(NetTest, PeerClosingMidReadIsStreamClosedError) {
  auto pair5 = stream_pair();
  auto& stream = pair5.first;
  auto& peer = pair5.second;
  ASSERT_EQ(write(peer, "0123456789", 10), 10);
  close_peer(peer);
  try {
    run([&] { return stream.read_bytes(100); });
    FAIL() << "no exception";
  } catch (const StreamClosedError& e) {
    EXPECT_EQ(e.real_error(), nullptr);  // an orderly close
  }
  EXPECT_TRUE(stream.closed());
}

TEST_F(NetTest, ReadUntilCloseGetsEverything) {
  auto pair6 = stream_pair();
  auto& stream = pair6.first;
  auto& peer = pair6.second;
  loop_.call_later(1ms, [&, p = peer] {
    ASSERT_EQ(write(p, "all of it", 9), 9);
    close_peer(p);
  });
  EXPECT_EQ(run([&] { return stream.read_until_close(); }), "all of it");
}

TEST_F(NetTest, MaxBufferExceededClosesWithAClearError) {
  IOStream::Options small;
  small.max_buffer_size = 1024;
  small.read_chunk_size = 256;
  auto pair7 = stream_pair(small);
  auto& stream = pair7.first;
  auto& peer = pair7.second;
  std::string junk(4000, 'j');
  ASSERT_EQ(write(peer, junk.data(), junk.size()), 4000);
  try {
    run([&] { return stream.read_until("\n"); });
    FAIL() << "no exception";
  } catch (const StreamClosedError& e) {
    EXPECT_THROW(std::rethrow_exception(e.real_error()), StreamBufferFullError);
    EXPECT_NE(std::string(e.what()).find("maximum read buffer size"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(stream.closed());
}

TEST_F(NetTest, ReadUntilMaxBytes) {
  auto pair8 = stream_pair();
  auto& stream = pair8.first;
  auto& peer = pair8.second;
  ASSERT_EQ(write(peer, "0123456789\n", 11), 11);
  EXPECT_THROW(run([&] { return stream.read_until("\n", 5); }), StreamClosedError);
  EXPECT_TRUE(stream.closed());
}

TEST_F(NetTest, MisuseIsReported) {
  auto pair9 = stream_pair();
  auto& stream = pair9.first;
  auto& peer = pair9.second;
  (void)peer;
  Future<std::string> pending = stream.read_bytes(1);
  EXPECT_THROW(static_cast<void>(stream.read_bytes(1)), std::logic_error);
  stream.close();
  EXPECT_THROW(pending.result(), StreamClosedError);
  EXPECT_THROW(stream.write("x").result(), StreamClosedError);
  EXPECT_THROW(static_cast<void>(stream.read_until("")), std::invalid_argument);
  EXPECT_THROW(IOStream(-1, &loop_), std::invalid_argument);
}

TEST_F(NetTest, CloseCallbackRunsOnTheLoop) {
  auto pair10 = stream_pair();
  auto& stream = pair10.first;
  auto& peer = pair10.second;
  bool closed = false;
  stream.set_close_callback([&] { closed = true; });
  close_peer(peer);
  run([&] { return stream.read_until_close(); });
  run([] { return gen::sleep(1ms); });
  EXPECT_TRUE(closed);
}

Future<void> echo_lines(IOStream stream, std::string) {
  for (;;) {
    std::string line = co_await stream.read_until("\n");
    co_await stream.write(line);
  }
}

TEST_F(NetTest, ServerAndClientEchoOverIPv4AndIPv6) {
  for (const char* host : {"127.0.0.1", "::1"}) {
    TCPServer server(echo_lines, &loop_);
    try {
      server.listen(0, host);
    } catch (const std::system_error& e) {
      if (std::string(host) == "::1") GTEST_SKIP() << "no IPv6 loopback: " << e.what();
      throw;
    }
    ASSERT_NE(server.port(), 0);
    auto client = [&]() -> Future<std::string> {
      IOStream s = co_await TCPClient(&loop_).connect(host, server.port(), 1s);
      co_await s.write("ping\n");
      std::string r = co_await s.read_until("\n");
      s.close();
      co_return r;
    };
    EXPECT_EQ(run(client), "ping\n") << host;
    server.stop();
  }
  // The servers' handlers saw their peers close: logged as handler errors
  // (StreamClosedError), never lost.
  for (const auto& l : log_) {
    EXPECT_NE(l.find("Error in connection handler"), std::string::npos) << l;
  }
}

TEST_F(NetTest, ManyClientsAtOnce) {
  TCPServer server(echo_lines, &loop_);
  server.listen(0, "127.0.0.1");
  const int kClients = 100, kMessages = 10;
  auto one = [&](int id) -> Future<int> {
    IOStream s = co_await TCPClient(&loop_).connect("127.0.0.1", server.port());
    int ok = 0;
    for (int m = 0; m < kMessages; ++m) {
      std::string msg = std::to_string(id) + ":" + std::to_string(m) + "\n";
      co_await s.write(msg);
      if (co_await s.read_until("\n") == msg) ++ok;
    }
    s.close();
    co_return ok;
  };
  std::vector<Future<int>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(one(i));
  auto results = run([&] { return gen::multi(clients); });
  for (int r : results) EXPECT_EQ(r, kMessages);
}

TEST_F(NetTest, ServerStopWithConnectionsOpenLeaksNothing) {
  // Under --config=asan, LeakSanitizer checks that closing the loop frees
  // the suspended handlers and their streams.
  TCPServer server(echo_lines, &loop_);
  server.listen(0, "127.0.0.1");
  std::vector<IOStream> clients;
  auto connect_all = [&]() -> Future<void> {
    for (int i = 0; i < 5; ++i) {
      clients.push_back(co_await TCPClient(&loop_).connect("127.0.0.1", server.port()));
    }
  };
  run(connect_all);
  run([] { return gen::sleep(2ms); });  // the handlers are waiting to read
  std::ostringstream dump;
  EXPECT_EQ(gen::dump_coroutines(dump, loop_), 5u);
  // Each handler shows what it waits for: a read on its stream.
  EXPECT_NE(dump.str().find("echo_lines at net/net_test.cc:"), std::string::npos)
      << dump.str();
  EXPECT_NE(dump.str().find("awaiting IOStream read_until"), std::string::npos)
      << dump.str();
  server.stop();
  // The fixture closes the loop: the five handlers are destroyed, and
  // their streams closed.
}

TEST_F(NetTest, ConnectRefusedNamesTheAddress) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);  // nothing listens there now
  try {
    run([&] { return TCPClient(&loop_).connect("127.0.0.1", port); });
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << e.what();
  }
}

TEST_F(NetTest, ConnectTimesOut) {
  // A listener whose accept queue is full drops further SYNs: the connect
  // hangs on loopback until the timeout.
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(lfd, 0), 0);
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(c);
  }
  std::this_thread::sleep_for(10ms);
  EXPECT_THROW(run([&] {
    return TCPClient(&loop_).connect("127.0.0.1", ntohs(addr.sin_port), 100ms);
  }),
               TimeoutError);
  for (int c : fillers) ::close(c);
  ::close(lfd);
}

TEST_F(NetTest, UnresolvableHostIsAClearError) {
  try {
    run([&] { return TCPClient(&loop_).connect("no such host.invalid", 80); });
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot resolve"), std::string::npos);
  }
}

}  // namespace
}  // namespace tornado
