// The echo workload W6 of benchmarks/peers/WORKLOADS.md in-process: a
// coroutine echo server (TCPServer + IOStream) on a loop thread, and on the
// benchmark thread a client with the protocol of the peers' echo_client
// (one epoll thread, C connections with TCP_NODELAY, 64-byte messages,
// strictly one in flight per connection, replies checked). Loopback only.
// The side-by-side figure with the peers' own client binary is
// //benchmarks:workloads W6 under benchmarks/peers/run_peers.sh.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpserver.h"

namespace tornado {
namespace {

Future<void> echo_session(IOStream stream) {
  try {
    for (;;) {
      std::string data = co_await stream.read_bytes(65536, true);
      co_await stream.write(std::move(data));
    }
  } catch (const StreamClosedError&) {
  }
}

// Runs C connections x M ping-pongs against 127.0.0.1:port; returns the
// number of correct replies.
int64_t run_client(int port, int conns, int msgs) {
  constexpr int kSize = 64;
  struct Conn {
    int fd;
    char sent[kSize];
    int got = 0, done = 0;
  };
  std::vector<Conn> cs(conns);
  int ep = epoll_create1(0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  for (int j = 0; j < conns; ++j) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("net_benchmark: connect failed");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    cs[j].fd = fd;
    for (int k = 0; k < kSize; ++k) cs[j].sent[k] = static_cast<char>('A' + (j + k) % 26);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(j);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  int64_t replies = 0;
  for (auto& c : cs) send(c.fd, c.sent, kSize, MSG_NOSIGNAL);
  int open = conns;
  char buf[kSize];
  while (open > 0) {
    epoll_event events[64];
    int n = epoll_wait(ep, events, 64, 10000);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      Conn& c = cs[events[i].data.u32];
      ssize_t r = recv(c.fd, buf, kSize - c.got, 0);
      if (r <= 0) continue;
      if (std::memcmp(buf, c.sent + c.got, static_cast<size_t>(r)) != 0) {
        throw std::runtime_error("net_benchmark: wrong reply");
      }
      c.got += static_cast<int>(r);
      if (c.got < kSize) continue;
      c.got = 0;
      ++replies;
      if (++c.done == msgs) {
        close(c.fd);
        --open;
      } else {
        send(c.fd, c.sent, kSize, MSG_NOSIGNAL);
      }
    }
  }
  close(ep);
  return replies;
}

void BM_Net_EchoW6(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(0));
  const int msgs = static_cast<int>(state.range(1));
  IOLoop loop;
  std::atomic<int> port{0};
  std::thread server_thread([&] {
    loop.make_current();
    TCPServer server([](IOStream s, std::string) { return echo_session(std::move(s)); },
                     &loop);
    server.listen(0, "127.0.0.1");
    port = server.port();
    loop.start();
    server.stop();
  });
  while (port == 0) std::this_thread::yield();
  int64_t replies = 0;
  for (auto _ : state) replies += run_client(port, conns, msgs);
  loop.add_callback([&] { loop.stop(); });
  server_thread.join();
  if (replies != int64_t(state.iterations()) * conns * msgs) {
    state.SkipWithError("lost or wrong replies");
  }
  state.counters["req/s"] = benchmark::Counter(static_cast<double>(replies),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Net_EchoW6)->Args({50, 2000})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace tornado
