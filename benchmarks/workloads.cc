// The event-loop workloads W1-W6 of benchmarks/peers/WORKLOADS.md, written
// the way a user would write them with this library, following §1's
// contract (CLI, RESULT/CHECK lines, exit codes, sizes, checks):
//
//   workloads W1|W2|W3|W4|W5 [N]
//   workloads W6|W6cb [C]
//
// Build with -c opt: ./bazelw build --config=opt //benchmarks:workloads

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "tornado/future/future.h"
#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpserver.h"

namespace {

using tornado::Future;
using tornado::IOLoop;

constexpr const char* kPeer = "tornado_cpp";

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

int64_t cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

void result(const char* w, double value, const char* unit) {
  std::printf("RESULT %s %s %.3f %s\n", w, kPeer, value, unit);
  std::fflush(stdout);
}

void check(const char* w, bool ok, const std::string& what) {
  std::printf("CHECK %s %s %s %s\n", w, kPeer, ok ? "OK" : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) std::exit(3);
}

// ---- W1: callback chain -------------------------------------------------------

void w1(int64_t n) {
  IOLoop loop;
  struct State {
    IOLoop* loop;
    int64_t n, count = 0, t0 = 0, t1 = 0;
  } st{&loop, n};
  struct Cb {
    State* st;
    void operator()() const {
      if (++st->count < st->n) {
        st->loop->add_callback(*this);
      } else {
        st->t1 = now_ns();
        st->loop->stop();
      }
    }
  };
  loop.add_callback([&st] {
    st.t0 = now_ns();
    st.loop->add_callback(Cb{&st});
  });
  loop.start();
  check("W1", st.count == n, "count=" + std::to_string(st.count));
  result("W1", double(st.t1 - st.t0) / n, "ns/callback");
}

// ---- W2: the document's pattern ------------------------------------------------

Future<void> w2_main(int64_t n, int64_t* total, int64_t* elapsed) {
  IOLoop& loop = IOLoop::current();  // looked up once, outside the timed loop
  int64_t t0 = now_ns();
  for (int64_t i = 0; i < n; ++i) {
    int64_t a = i, b = 1;
    Future<int64_t> future;
    loop.add_callback([future, a, b]() mutable { future.set_result(a + b); });
    int64_t r = co_await future;
    *total += r;
  }
  *elapsed = now_ns() - t0;
}

void w2(int64_t n) {
  IOLoop loop;
  int64_t total = 0, elapsed = 0;
  loop.run_sync([&] { return w2_main(n, &total, &elapsed); });
  const int64_t expected = n * (n + 1) / 2;
  check("W2", total == expected,
        "total=" + std::to_string(total) + " expected=" + std::to_string(expected));
  result("W2", double(elapsed) / n, "ns/iter");
}

// ---- W3: nested coroutines with one loop trip ---------------------------------

Future<int64_t> inner(int64_t i) {
  co_await tornado::gen::moment;  // exactly one trip through the loop
  co_return i;
}

Future<void> outer(int64_t n, int64_t* total, int64_t* elapsed) {
  int64_t t0 = now_ns();
  for (int64_t i = 0; i < n; ++i) *total += co_await inner(i);
  *elapsed = now_ns() - t0;
}

void w3(int64_t n) {
  IOLoop loop;
  int64_t total = 0, elapsed = 0;
  loop.run_sync([&] { return outer(n, &total, &elapsed); });
  const int64_t expected = n * (n - 1) / 2;
  check("W3", total == expected,
        "total=" + std::to_string(total) + " expected=" + std::to_string(expected));
  result("W3", double(elapsed) / n, "ns/iter");
}

// ---- W4: timers ---------------------------------------------------------------------

std::vector<uint32_t> w4_delays_us(int64_t n) {
  std::vector<uint32_t> d(static_cast<size_t>(n));
  uint32_t x = 2463534242u;
  for (int64_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    d[size_t(i)] = x % 50000u;
  }
  return d;
}

void w4(int64_t n) {
  IOLoop loop;
  const auto delays = w4_delays_us(n);
  const int64_t expected = n - n / 2;
  int64_t fired = 0, t0 = 0, c0 = 0, t1 = 0, c1 = 0;
  std::vector<IOLoop::Timeout> handles(static_cast<size_t>(n));
  auto cb = [&] {
    if (++fired == expected) {
      t1 = now_ns();
      c1 = cpu_ns();
      // Keep running past every cancelled deadline, then check.
      loop.call_later(std::chrono::milliseconds(60), [&] { loop.stop(); });
    }
  };
  loop.add_callback([&] {
    t0 = now_ns();
    c0 = cpu_ns();
    for (int64_t i = 0; i < n; ++i) {
      handles[size_t(i)] =
          loop.call_later(std::chrono::microseconds(delays[size_t(i)]), cb);
    }
    for (int64_t i = 1; i < n; i += 2) loop.remove_timeout(handles[size_t(i)]);
  });
  loop.start();
  check("W4", fired == expected,
        "fired=" + std::to_string(fired) + " expected=" + std::to_string(expected));
  result("W4", double(t1 - t0) / n, "ns/timer");
  result("W4cpu", double(c1 - c0) / n, "ns/timer");
}

// ---- W5: cross-thread round trip ------------------------------------------------------

void w5(int64_t n) {
  IOLoop loop;
  std::binary_semaphore sem(0);
  int64_t elapsed = 0, count = 0;
  std::thread worker([&] {
    int64_t t0 = now_ns();
    for (int64_t i = 0; i < n; ++i) {
      loop.add_callback([&] {
        ++count;
        sem.release();
      });
      sem.acquire();
    }
    elapsed = now_ns() - t0;
    loop.add_callback([&] { loop.stop(); });
  });
  loop.start();
  worker.join();
  check("W5", count == n, "roundtrips=" + std::to_string(count));
  result("W5", double(elapsed) / n / 1000.0, "us/roundtrip");
}

// ---- W6cb: TCP echo with fd handlers ---------------------------------------------------

class EchoServer {
 public:
  EchoServer(IOLoop& loop, int64_t conns) : loop_(loop), expected_(conns) {}

  int listen_loopback() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only
    addr.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 1024) != 0) {
      std::perror("bind/listen");
      std::exit(1);
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    loop_.add_handler(listen_fd_, [this](int, uint32_t) { accept_all(); },
                      IOLoop::READ);
    return ntohs(addr.sin_port);
  }

  int64_t closed() const { return closed_; }

 private:
  struct Conn {
    int fd;
    std::vector<char> pending;  // bytes not yet written back
  };

  void accept_all() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: accepted the whole batch
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* c = new Conn{fd, {}};
      loop_.add_handler(fd, [this, c](int, uint32_t ev) { on_ready(c, ev); },
                        IOLoop::READ);
    }
  }

  void on_ready(Conn* c, uint32_t events) {
    if (!c->pending.empty() && (events & IOLoop::WRITE)) {
      if (!flush(c)) return close_conn(c);
      if (c->pending.empty()) loop_.update_handler(c->fd, IOLoop::READ);
    }
    if (!(events & (IOLoop::READ | IOLoop::ERROR))) return;
    ssize_t n = recv(c->fd, buf_, sizeof buf_, 0);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return;
      return close_conn(c);
    }
    ssize_t w = send(c->fd, buf_, size_t(n), MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return close_conn(c);
    if (w < n) {  // the rest when writable
      c->pending.insert(c->pending.end(), buf_ + (w < 0 ? 0 : w), buf_ + n);
      loop_.update_handler(c->fd, IOLoop::READ | IOLoop::WRITE);
    }
  }

  bool flush(Conn* c) {
    ssize_t w = send(c->fd, c->pending.data(), c->pending.size(), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN;
    c->pending.erase(c->pending.begin(), c->pending.begin() + w);
    return true;
  }

  void close_conn(Conn* c) {
    loop_.remove_handler(c->fd);
    close(c->fd);
    delete c;
    if (++closed_ == expected_) {
      loop_.remove_handler(listen_fd_);
      close(listen_fd_);
      loop_.stop();
    }
  }

  IOLoop& loop_;
  int64_t expected_;
  int64_t closed_ = 0;
  int listen_fd_ = -1;
  char buf_[65536];
};

void w6cb(int64_t conns) {
  IOLoop loop;
  auto server = std::make_unique<EchoServer>(loop, conns);
  int port = server->listen_loopback();
  std::printf("PORT %d\n", port);
  std::fflush(stdout);
  loop.start();
  std::printf("SERVER W6cb %s closed=%lld\n", kPeer, (long long)server->closed());
  std::fflush(stdout);
}

// ---- W6: TCP echo with a coroutine per connection -------------------------------

struct W6State {
  IOLoop* loop;
  tornado::TCPServer* server;
  int64_t expected, closed = 0;
};

Future<void> w6_session(tornado::IOStream stream, W6State* st) {
  try {
    for (;;) {
      std::string data = co_await stream.read_bytes(65536, /*partial=*/true);
      co_await stream.write(std::move(data));
    }
  } catch (const tornado::StreamClosedError&) {
    // EOF or reset: the connection is done.
  }
  if (++st->closed == st->expected) {
    st->server->stop();
    st->loop->stop();
  }
}

void w6(int64_t conns) {
  IOLoop loop;
  loop.make_current();
  W6State st{&loop, nullptr, conns};
  tornado::TCPServer server(
      [&st](tornado::IOStream s, std::string) { return w6_session(std::move(s), &st); },
      &loop);
  st.server = &server;
  server.listen(0, "127.0.0.1");  // loopback only
  std::printf("PORT %d\n", server.port());
  std::fflush(stdout);
  loop.start();
  std::printf("SERVER W6 %s closed=%lld\n", kPeer, (long long)st.closed);
  std::fflush(stdout);
}

int64_t arg_n(int argc, char** argv, int64_t dflt) {
  return argc > 2 ? std::atoll(argv[2]) : dflt;
}

}  // namespace

int main(int argc, char** argv) {
  alarm(300);  // the hard stop of WORKLOADS.md §1
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s W1|W2|W3|W4|W5 [N] | W6|W6cb [C]\n", argv[0]);
    return 2;
  }
  const std::string w = argv[1];
  if (w == "W1") {
    w1(arg_n(argc, argv, 1000000));
  } else if (w == "W2") {
    w2(arg_n(argc, argv, 100000));
  } else if (w == "W3") {
    w3(arg_n(argc, argv, 100000));
  } else if (w == "W4") {
    w4(arg_n(argc, argv, 200000));
  } else if (w == "W5") {
    w5(arg_n(argc, argv, 100000));
  } else if (w == "W6cb") {
    w6cb(arg_n(argc, argv, 50));
  } else if (w == "W6") {
    w6(arg_n(argc, argv, 50));
  } else {
    std::fprintf(stderr, "unknown workload %s\n", argv[1]);
    return 2;
  }
  return 0;
}
