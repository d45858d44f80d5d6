// Faults: the loop answers hostile conditions with a clear error, never a
// crash or a leak. (Signals during a blocked poll, callbacks throwing
// non-std exceptions and handlers closing their own fd are in
// ioloop/ioloop_test.cc.)

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/ioloop/periodic_callback.h"
#include "tornado/logging/logging.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

// Lowers RLIMIT_NOFILE so that only `spare` more fds can be opened, and
// restores it on destruction.
class FdLimit {
 public:
  explicit FdLimit(int spare) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    int lowest = dup(0);  // the lowest free descriptor number
    close(lowest);
    // Count the descriptors above it that are open, so the new limit
    // leaves exactly `spare` free slots at the bottom.
    rlimit r = saved_;
    r.rlim_cur = lowest + spare;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  ~FdLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

bool highest_fd_below(int limit) {
  for (int fd = limit; fd < limit + 256; ++fd) {
    if (fcntl(fd, F_GETFD) != -1) return false;
  }
  return true;
}

TEST(FaultsTest, FdExhaustionWhenCreatingALoopIsAClearError) {
  int lowest = dup(0);
  close(lowest);
  if (!highest_fd_below(lowest + 1)) {
    GTEST_SKIP() << "descriptors open above the lowest free one";
  }
  for (int spare = 0; spare < 3; ++spare) {
    for (auto waker : {IOLoop::WakerKind::kEventfd, IOLoop::WakerKind::kPipe}) {
      IOLoop::Options o;
      o.waker = waker;
      bool threw = false;
      std::string what;
      {
        FdLimit limit(spare);
        try {
          IOLoop loop(o);
        } catch (const std::system_error& e) {
          threw = true;
          what = e.what();
        }
      }
      // epoll needs 1 fd; the eventfd waker 1 more, the pipe 2 more.
      int needed = waker == IOLoop::WakerKind::kEventfd ? 2 : 3;
      EXPECT_EQ(threw, spare < needed) << "spare=" << spare << " " << what;
      if (threw) {
        EXPECT_NE(what.find("IOLoop"), std::string::npos) << what;
      }
      // Nothing leaked by the failed constructor.
      int next = dup(0);
      EXPECT_EQ(next, lowest);
      close(next);
    }
  }
}

TEST(FaultsTest, CloseWithEverythingPendingLeaksNothing) {
  // Under --config=asan, LeakSanitizer checks this test's allocations.
  auto owned = std::make_shared<int>(0);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Future<int> never;
  std::vector<Future<void>> suspended;
  {
    IOLoop loop;
    loop.make_current();
    loop.add_callback([owned] {});
    loop.call_later(1h, [owned] {});
    loop.add_handler(sv[0], [owned](int, uint32_t) {}, IOLoop::READ);
    PeriodicCallback pc([owned] {}, 1h, &loop);
    pc.start();
    auto waiter = [](std::shared_ptr<int> o, Future<int> f) -> Future<void> {
      co_await f;
      (void)o;
    };
    auto sleeper = [](std::shared_ptr<int> o) -> Future<void> {
      co_await gen::sleep(1h);
      (void)o;
    };
    auto parent = [&](std::shared_ptr<int> o) -> Future<void> {
      co_await sleeper(o);
    };
    suspended.push_back(waiter(owned, never));
    suspended.push_back(sleeper(owned));
    suspended.push_back(parent(owned));
    loop.run_sync([] { return gen::sleep(1ms); });
    pc.stop();
    loop.close(true);
    EXPECT_EQ(owned.use_count(), 2);  // the PeriodicCallback's own callable
    EXPECT_EQ(fcntl(sv[0], F_GETFD), -1);  // closed by close(all_fds)
  }
  EXPECT_EQ(owned.use_count(), 1);
  for (auto& f : suspended) EXPECT_FALSE(f.done());
  close(sv[1]);
}

TEST(FaultsTest, DestroyingALoopThatWasNeverStartedIsClean) {
  auto owned = std::make_shared<int>(0);
  {
    IOLoop loop;
    loop.add_callback([owned] {});
    loop.call_later(1s, [owned] {});
  }
  EXPECT_EQ(owned.use_count(), 1);
}

}  // namespace
}  // namespace tornado
