// Regression tests for the IOStream features of the networking issue, on
// socketpairs and pipes:
//   1. write backpressure: Options::max_write_buffer_size, wait_for_drain;
//   2. write deadlines: write(data, timeout) and write(data, deadline);
//   3. read_into: reads into the caller's buffer, never after the read
//      ended (ASan checks the buffer freed right after cancel/close);
//   4. read_until_regex (with max_bytes and a timeout);
//   5. PipeIOStream.
// Tornado's own iostream tests are ported in net/iostream_test.cc.

// See net/iostream.cc: GCC bug 105616 in std::regex under --config=asan.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // GCC's option; clang has none
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <functional>
#include <regex>
#pragma GCC diagnostic pop

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <regex>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/net/iostream.h"
#include "tornado/testing/async_test.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class IOStreamFeaturesTest : public testing::AsyncTest {
 protected:
  // A connected socketpair: our end as an IOStream, the peer raw.
  IOStream stream_pair(int* peer, IOStream::Options options = {}) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    fds_.push_back(sv[1]);
    *peer = sv[1];
    return IOStream(sv[0], &loop(), options);
  }
  // A pipe: {read end, write end}, closed at teardown unless taken.
  void make_pipe(int fds[2]) {
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  }
  void TearDown() override {
    AsyncTest::TearDown();
    for (int fd : fds_) ::close(fd);
  }

  // Everything readable now on a non-blocking fd (at most `limit` bytes).
  static std::string drain(int fd, size_t limit = SIZE_MAX) {
    std::string out;
    char buf[4096];
    while (out.size() < limit) {
      ssize_t n = ::read(fd, buf, std::min(sizeof buf, limit - out.size()));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // Writes 16 KiB chunks until the kernel refuses more and bytes stay
  // queued in the stream (the peer is not reading). Returns the bytes
  // written so far.
  static size_t fill_kernel(IOStream& stream) {
    size_t total = 0;
    for (int i = 0; i < 4096 && stream.write_buffer_size() == 0; ++i) {
      (void)stream.write(std::string(16 * 1024, 'k'));
      total += 16 * 1024;
    }
    EXPECT_GT(stream.write_buffer_size(), 0u);
    return total;
  }

  // Until the stream has read everything its socket holds.
  static Future<void> consumed(int fd) {
    for (;;) {
      int queued = 0;
      ioctl(fd, FIONREAD, &queued);
      if (queued == 0) co_return;
      co_await gen::moment;
    }
  }

  std::vector<int> fds_;
};

using testing::failure;
using testing::holds;

// The cause carried by a StreamClosedError.
std::exception_ptr real_error(const std::exception_ptr& e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const StreamClosedError& closed) {
    return closed.real_error();
  } catch (...) {
  }
  return nullptr;
}

// ---- 1. write backpressure ------------------------------------------------

// A single write larger than max_write_buffer_size is rejected whole, even
// with nothing queued: none of it reaches the peer, and the stream closes
// with StreamBufferFullError as cause.
TEST_F(IOStreamFeaturesTest, WriteLargerThanMaxWriteBufferSizeIsRejectedWhole) {
  int peer;
  IOStream::Options options;
  options.max_write_buffer_size = 1024;
  IOStream stream = stream_pair(&peer, options);
  Future<void> ok = stream.write(std::string(1024, 'a'));  // exactly the limit
  EXPECT_TRUE(ok.done());
  EXPECT_EQ(failure(ok), nullptr);
  Future<void> big = stream.write(std::string(1025, 'b'));
  EXPECT_TRUE(holds<StreamBufferFullError>(failure(big)));
  EXPECT_TRUE(stream.closed());
  EXPECT_TRUE(holds<StreamBufferFullError>(stream.error()));
  EXPECT_EQ(drain(peer), std::string(1024, 'a'));  // no 'b' was sent
  // Later writes fail: no hole in the byte stream.
  Future<void> later = stream.write("c");
  EXPECT_TRUE(holds<StreamClosedError>(failure(later)));
}

// With the kernel full, writes queue up to the limit exactly; the one
// byte more is rejected, and the writes still queued fail with
// StreamClosedError carrying the StreamBufferFullError.
TEST_F(IOStreamFeaturesTest, QueuedBytesMayReachButNotExceedTheLimit) {
  int peer;
  IOStream::Options options;
  options.max_write_buffer_size = 64 * 1024;
  IOStream stream = stream_pair(&peer, options);
  fill_kernel(stream);
  const size_t queued = stream.write_buffer_size();
  ASSERT_LE(queued, 16u * 1024);
  Future<void> up_to_limit = stream.write(std::string(64 * 1024 - queued, 'q'));
  EXPECT_FALSE(up_to_limit.done());
  EXPECT_EQ(stream.write_buffer_size(), 64u * 1024);
  EXPECT_FALSE(stream.closed());
  Future<void> one_more = stream.write("x");
  EXPECT_TRUE(holds<StreamBufferFullError>(failure(one_more)));
  EXPECT_TRUE(stream.closed());
  EXPECT_TRUE(holds<StreamBufferFullError>(real_error(failure(up_to_limit))));
  EXPECT_EQ(stream.write_buffer_size(), 0u);
}

// 0 (the default) is unbounded: megabytes queue.
TEST_F(IOStreamFeaturesTest, NoMaxWriteBufferSizeByDefault) {
  int peer;
  IOStream stream = stream_pair(&peer);
  Future<void> w = stream.write(std::string(8 << 20, 'z'));
  EXPECT_FALSE(w.done());
  EXPECT_GT(stream.write_buffer_size(), 4u << 20);
  EXPECT_FALSE(stream.closed());
}

// wait_for_drain(mark) is done once the queue is at most `mark`: at once
// if it already is; else when the peer has read enough, and a lower mark
// later than a higher one.
TEST_F(IOStreamFeaturesTest, WaitForDrainCompletesAtTheMark) {
  int peer;
  IOStream stream = stream_pair(&peer);
  EXPECT_TRUE(stream.wait_for_drain().done());  // nothing queued
  fill_kernel(stream);
  (void)stream.write(std::string(256 * 1024, 'w'));
  const size_t queued = stream.write_buffer_size();
  EXPECT_TRUE(stream.wait_for_drain(queued).done());
  const size_t mark = queued / 2;
  std::vector<std::string> order;
  std::vector<size_t> left_at;
  Future<void> half = stream.wait_for_drain(mark);
  Future<void> empty = stream.wait_for_drain(0);
  half.add_done_callback([&](Future<void>) {
    order.push_back("half");
    left_at.push_back(stream.write_buffer_size());
  });
  empty.add_done_callback([&](Future<void>) {
    order.push_back("empty");
    left_at.push_back(stream.write_buffer_size());
  });
  EXPECT_FALSE(half.done());
  run([&]() -> Future<void> {
    while (!empty.done()) {
      drain(peer, 8192);  // a slow reader
      co_await gen::moment;
    }
  });
  ASSERT_EQ(order, (std::vector<std::string>{"half", "empty"}));
  EXPECT_LE(left_at[0], mark);
  EXPECT_EQ(left_at[1], 0u);
  EXPECT_FALSE(stream.closed());
}

// A producer awaiting wait_for_drain between writes keeps its queue under
// the mark and delivers everything in order.
TEST_F(IOStreamFeaturesTest, ProducerPacedByWaitForDrain) {
  int peer;
  IOStream stream = stream_pair(&peer);
  size_t max_queued = 0;
  std::string received;
  const std::string chunk(32 * 1024, 'p');
  run([&]() -> Future<void> {
    for (int i = 0; i < 64; ++i) {
      (void)stream.write(chunk + std::to_string(i % 10));
      max_queued = std::max(max_queued, stream.write_buffer_size());
      Future<void> drained = stream.wait_for_drain(64 * 1024);
      while (!drained.done()) {
        received += drain(peer, 16 * 1024);
        co_await gen::moment;
      }
      co_await drained;
    }
    Future<void> drained = stream.wait_for_drain();
    while (!drained.done()) {
      received += drain(peer);
      co_await gen::moment;
    }
    received += drain(peer);
  });
  EXPECT_LE(max_queued, 64u * 1024 + chunk.size() + 1);
  ASSERT_EQ(received.size(), 64 * (chunk.size() + 1));
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(received[(i + 1) * (chunk.size() + 1) - 1], '0' + i % 10);
  }
}

// Closing fails a pending wait_for_drain with StreamClosedError carrying
// the cause; on a closed stream it fails at once.
TEST_F(IOStreamFeaturesTest, WaitForDrainFailsWhenTheStreamCloses) {
  int peer;
  IOStream stream = stream_pair(&peer);
  fill_kernel(stream);
  Future<void> drained = stream.wait_for_drain();
  EXPECT_FALSE(drained.done());
  stream.close(std::make_exception_ptr(std::runtime_error("going away")));
  EXPECT_TRUE(holds<std::runtime_error>(real_error(failure(drained))));
  Future<void> after = stream.wait_for_drain();
  EXPECT_TRUE(holds<StreamClosedError>(failure(after)));
}

// ---- 2. write deadlines ---------------------------------------------------

// A write not flushed by its timeout fails with TimeoutError and closes the
// stream with it; the writes queued with it fail with StreamClosedError
// carrying the TimeoutError.
TEST_F(IOStreamFeaturesTest, WriteNotFlushedInTimeFailsAndClosesTheStream) {
  int peer;
  IOStream stream = stream_pair(&peer);
  fill_kernel(stream);
  Future<void> timed = stream.write(std::string(64 * 1024, 't'), 20ms);
  Future<void> after = stream.write("after");
  bool close_callback = false;
  stream.set_close_callback([&] { close_callback = true; });
  bool timed_out = false;
  run([&]() -> Future<void> {
    try {
      co_await timed;
    } catch (const TimeoutError&) {
      timed_out = true;
      EXPECT_TRUE(stream.closed());  // already closed when the writer resumes
    }
    co_await gen::moment;
  });
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(stream.closed());
  EXPECT_TRUE(holds<TimeoutError>(stream.error()));
  EXPECT_TRUE(holds<TimeoutError>(real_error(failure(after))));
  EXPECT_TRUE(close_callback);
}

// The time_point form; a deadline already past fails a write that cannot
// flush at once (on the next iteration, not inside write()).
TEST_F(IOStreamFeaturesTest, WriteWithPastDeadlineFailsWhenItCannotFlush) {
  int peer;
  IOStream stream = stream_pair(&peer);
  fill_kernel(stream);
  Future<void> timed =
      stream.write("x", IOLoop::time_point::min());  // saturates: no overflow
  EXPECT_FALSE(timed.done());
  EXPECT_FALSE(stream.closed());
  run([&]() -> Future<void> {
    while (!timed.done()) co_await gen::moment;
  });
  EXPECT_TRUE(holds<TimeoutError>(failure(timed)));
  EXPECT_TRUE(stream.closed());
}

// A write that flushes at once needs no timer: a past deadline does not
// touch it or the stream.
TEST_F(IOStreamFeaturesTest, WriteFlushedAtOnceIgnoresItsDeadline) {
  int peer;
  IOStream stream = stream_pair(&peer);
  Future<void> w = stream.write("hello", IOLoop::time_point::min());
  EXPECT_TRUE(w.done());
  EXPECT_EQ(failure(w), nullptr);
  run([]() -> Future<void> { co_await gen::sleep(2ms); });
  EXPECT_FALSE(stream.closed());
  EXPECT_EQ(drain(peer), "hello");
}

// A write flushed before its deadline succeeds, and its timer is gone.
TEST_F(IOStreamFeaturesTest, WriteFlushedBeforeTheDeadlineRemovesItsTimer) {
  int peer;
  IOStream stream = stream_pair(&peer);
  fill_kernel(stream);
  const size_t timers = loop().pending_timeouts();
  Future<void> timed = stream.write("tail", 10s);
  EXPECT_EQ(loop().pending_timeouts(), timers + 1);
  run([&]() -> Future<void> {
    while (!timed.done()) {
      drain(peer);
      co_await gen::moment;
    }
  });
  EXPECT_EQ(failure(timed), nullptr);
  EXPECT_FALSE(stream.closed());
  EXPECT_EQ(loop().pending_timeouts(), timers);
}

// Closing the stream removes the timers of its timed writes.
TEST_F(IOStreamFeaturesTest, CloseRemovesTheTimersOfTimedWrites) {
  int peer;
  IOStream stream = stream_pair(&peer);
  fill_kernel(stream);
  const size_t timers = loop().pending_timeouts();
  Future<void> a = stream.write("a", 10s);
  Future<void> b = stream.write("b", IOLoop::time_point::max());
  EXPECT_EQ(loop().pending_timeouts(), timers + 2);
  stream.close();
  EXPECT_EQ(loop().pending_timeouts(), timers);
  EXPECT_TRUE(holds<StreamClosedError>(failure(a)));
  EXPECT_TRUE(holds<StreamClosedError>(failure(b)));
}

// Durations and deadlines saturate: hours::max() and time_point::max()
// never fire (no overflow to "now").
TEST_F(IOStreamFeaturesTest, WriteDeadlinesSaturate) {
  int peer;
  IOStream stream = stream_pair(&peer);
  fill_kernel(stream);
  Future<void> a = stream.write("a", std::chrono::hours::max());
  Future<void> b = stream.write("b", IOLoop::time_point::max());
  run([]() -> Future<void> { co_await gen::sleep(5ms); });
  EXPECT_FALSE(a.done());
  EXPECT_FALSE(b.done());
  EXPECT_FALSE(stream.closed());
}

// The reads' timeouts saturate too. Before: hours::max() converted to the
// clock's nanoseconds at the call (IOLoop::duration parameters) and
// overflowed, so the read timed out at once.
TEST_F(IOStreamFeaturesTest, ReadTimeoutsSaturate) {
  int peer;
  IOStream stream = stream_pair(&peer);
  Future<std::string> f = stream.read_until("\n", 0, std::chrono::hours::max());
  run([]() -> Future<void> { co_await gen::sleep(5ms); });
  EXPECT_FALSE(f.done());
  stream.cancel_read();
  EXPECT_TRUE(holds<ReadCancelledError>(failure(f)));
  Future<std::string> g =
      stream.read_bytes(1, false, std::chrono::seconds::max());
  run([]() -> Future<void> { co_await gen::sleep(5ms); });
  EXPECT_FALSE(g.done());
  stream.cancel_read();
  EXPECT_TRUE(holds<ReadCancelledError>(failure(g)));
  EXPECT_FALSE(stream.closed());
}

// A timed write on a closed stream fails with StreamClosedError.
TEST_F(IOStreamFeaturesTest, TimedWriteOnAClosedStream) {
  int peer;
  IOStream stream = stream_pair(&peer);
  stream.close();
  Future<void> w = stream.write("x", 1s);
  EXPECT_TRUE(holds<StreamClosedError>(failure(w)));
}

// ---- 3. read_into -----------------------------------------------------------

TEST_F(IOStreamFeaturesTest, ReadIntoFillsTheBuffer) {
  int peer;
  IOStream stream = stream_pair(&peer);
  char buf[5];
  run([&]() -> Future<void> {
    Future<size_t> f = stream.read_into(buf);
    EXPECT_EQ(::write(peer, "hel", 3), 3);
    co_await gen::moment;
    EXPECT_EQ(::write(peer, "lo world", 8), 8);
    EXPECT_EQ(co_await f, 5u);
    EXPECT_EQ(std::string(buf, 5), "hello");
    // The rest is still buffered for the next read.
    EXPECT_EQ(co_await stream.read_bytes(6), " world");
  });
}

TEST_F(IOStreamFeaturesTest, ReadIntoPartialAndFromTheBuffer) {
  int peer;
  IOStream stream = stream_pair(&peer);
  std::vector<char> buf(50);
  run([&]() -> Future<void> {
    EXPECT_EQ(::write(peer, "hello", 5), 5);
    size_t n = co_await stream.read_into(buf, /*partial=*/true);
    EXPECT_EQ(std::string(buf.data(), n), "hello");
    EXPECT_EQ(::write(peer, "world!", 6), 6);
    EXPECT_EQ(co_await stream.read_bytes(1), "w");  // the rest is buffered
    // Satisfied from the buffer, less than asked for with partial.
    n = co_await stream.read_into(buf, /*partial=*/true);
    EXPECT_EQ(std::string(buf.data(), n), "orld!");
    // An empty buffer completes at once with 0.
    EXPECT_EQ(co_await stream.read_into(std::span<char>()), 0u);
  });
}

// The buffer is freed right after cancel_read(); data arriving later must
// not be written into it (ASan: heap-use-after-free), and is not lost.
TEST_F(IOStreamFeaturesTest, ReadIntoBufferFreedAfterCancelIsNeverWritten) {
  int peer;
  IOStream stream = stream_pair(&peer);
  auto buf = std::make_unique<char[]>(16);
  std::fill_n(buf.get(), 16, '.');
  Future<size_t> f = stream.read_into(std::span<char>(buf.get(), 16));
  EXPECT_EQ(::write(peer, "0123456789", 10), 10);  // not enough yet
  run([&]() -> Future<void> { co_await consumed(peer); });
  EXPECT_EQ(std::string(buf.get(), 16), std::string(16, '.'));  // untouched
  stream.cancel_read();
  EXPECT_TRUE(holds<ReadCancelledError>(failure(f)));
  buf.reset();
  EXPECT_EQ(::write(peer, "abcdefghij", 10), 10);
  std::string rest = run([&]() -> Future<std::string> {
    co_await consumed(peer);
    co_return co_await stream.read_bytes(20);
  });
  EXPECT_EQ(rest, "0123456789abcdefghij");
}

// The same with close(): the buffer freed right after it, the peer still
// sending.
TEST_F(IOStreamFeaturesTest, ReadIntoBufferFreedAfterCloseIsNeverWritten) {
  int peer;
  IOStream stream = stream_pair(&peer);
  auto buf = std::make_unique<char[]>(16);
  Future<size_t> f = stream.read_into(std::span<char>(buf.get(), 16));
  EXPECT_EQ(::write(peer, "0123", 4), 4);
  run([&]() -> Future<void> { co_await consumed(peer); });
  stream.close();
  EXPECT_TRUE(holds<StreamClosedError>(failure(f)));
  buf.reset();
  // The stream's end is closed: this fails (EPIPE), which is fine.
  ssize_t ignored = ::send(peer, "more", 4, MSG_NOSIGNAL);
  (void)ignored;
  run([]() -> Future<void> { co_await gen::sleep(2ms); });
}

// The same when the read times out; and when the peer closes before the
// buffer is full, the read fails without writing a byte into it.
TEST_F(IOStreamFeaturesTest, ReadIntoTimeoutAndEofLeaveTheBufferUntouched) {
  int peer;
  IOStream stream = stream_pair(&peer);
  auto buf = std::make_unique<char[]>(8);
  Future<size_t> timed =
      stream.read_into(std::span<char>(buf.get(), 8), false, 10ms);
  EXPECT_EQ(::write(peer, "abc", 3), 3);
  bool timed_out = false;
  run([&]() -> Future<void> {
    try {
      co_await timed;
    } catch (const TimeoutError&) {
      timed_out = true;
    }
  });
  EXPECT_TRUE(timed_out);
  buf.reset();
  EXPECT_FALSE(stream.closed());
  std::vector<char> second(8, '.');
  Future<size_t> f = stream.read_into(second);
  EXPECT_EQ(::write(peer, "de", 2), 2);
  ::shutdown(peer, SHUT_WR);
  run([&]() -> Future<void> {
    while (!f.done()) co_await gen::moment;
  });
  EXPECT_TRUE(holds<StreamClosedError>(failure(f)));
  EXPECT_EQ(std::string(second.data(), 8), std::string(8, '.'));
}

TEST_F(IOStreamFeaturesTest, ReadIntoWhileAReadIsPendingThrows) {
  int peer;
  IOStream stream = stream_pair(&peer);
  char buf[4];
  Future<std::string> pending = stream.read_bytes(1);
  EXPECT_THROW(static_cast<void>(stream.read_into(buf)), std::logic_error);
  stream.cancel_read();
  EXPECT_TRUE(holds<ReadCancelledError>(failure(pending)));
  Future<size_t> f = stream.read_into(buf);
  stream.close();
  EXPECT_TRUE(holds<StreamClosedError>(failure(f)));
  Future<size_t> after = stream.read_into(buf);
  EXPECT_TRUE(holds<StreamClosedError>(failure(after)));
}

// ---- 4. read_until_regex --------------------------------------------------

TEST_F(IOStreamFeaturesTest, ReadUntilRegexAcrossArrivals) {
  int peer;
  IOStream stream = stream_pair(&peer);
  run([&]() -> Future<void> {
    Future<std::string> f = stream.read_until_regex("\r?\n\r?\n");
    EXPECT_EQ(::write(peer, "GET / HTTP/1.0\r\nHost: x\r\n", 25), 25);
    co_await consumed(peer);
    EXPECT_FALSE(f.done());
    EXPECT_EQ(::write(peer, "\r\nbody", 6), 6);
    EXPECT_EQ(co_await f, "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    EXPECT_EQ(co_await stream.read_bytes(4), "body");
    // A std::regex, and a match already buffered.
    EXPECT_EQ(::write(peer, "key=42;rest", 11), 11);
    EXPECT_EQ(co_await stream.read_until_regex(std::regex("=[0-9]+;")),
              "key=42;");
    EXPECT_EQ(co_await stream.read_bytes(4), "rest");
  });
}

// The end of the buffered bytes is not the end of the input: `$` does not
// match there.
TEST_F(IOStreamFeaturesTest, ReadUntilRegexDollarDoesNotMatchTheBufferEnd) {
  int peer;
  IOStream stream = stream_pair(&peer);
  run([&]() -> Future<void> {
    Future<std::string> f = stream.read_until_regex("ab$");
    EXPECT_EQ(::write(peer, "xab", 3), 3);
    co_await consumed(peer);
    co_await gen::moment;
    EXPECT_FALSE(f.done());
    stream.cancel_read();
    EXPECT_TRUE(holds<ReadCancelledError>(failure(f)));
    EXPECT_EQ(co_await stream.read_until_regex("ab"), "xab");
  });
}

TEST_F(IOStreamFeaturesTest, ReadUntilRegexTimeoutKeepsTheData) {
  int peer;
  IOStream stream = stream_pair(&peer);
  run([&]() -> Future<void> {
    EXPECT_EQ(::write(peer, "no newline", 10), 10);
    bool timed_out = false;
    try {
      co_await stream.read_until_regex("\n", 0, 10ms);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_FALSE(stream.closed());
    EXPECT_EQ(::write(peer, "!\n", 2), 2);
    EXPECT_EQ(co_await stream.read_until_regex(std::regex("\n"), 100, 1s),
              "no newline!\n");
  });
}

// An invalid pattern throws at the call, and leaves no read pending.
TEST_F(IOStreamFeaturesTest, ReadUntilRegexInvalidPatternThrows) {
  int peer;
  IOStream stream = stream_pair(&peer);
  EXPECT_THROW(static_cast<void>(stream.read_until_regex("(unclosed")), std::regex_error);
  EXPECT_FALSE(stream.reading());
  Future<std::string> pending = stream.read_until_regex("x");
  EXPECT_THROW(static_cast<void>(stream.read_until_regex("y")), std::logic_error);
  stream.cancel_read();
  EXPECT_TRUE(holds<ReadCancelledError>(failure(pending)));
}

// 100 KiB without a match are waiting in the kernel, read 1 KiB at a
// time: the regex is not searched again after every chunk (each search
// starts from the beginning), only once the buffer has doubled. Before:
// about 100 searches, 5 MB examined.
TEST_F(IOStreamFeaturesTest, ReadUntilRegexDoesNotRescanPerChunk) {
  int peer;
  IOStream::Options options;
  options.read_chunk_size = 1024;
  IOStream stream = stream_pair(&peer, options);
  const std::string data = std::string(100 * 1024, 'a') + "\n";
  ASSERT_EQ(::write(peer, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  const uint64_t before = net_internal::delimiter_bytes_scanned();
  std::string line = run([&]() -> Future<std::string> {
    co_return co_await stream.read_until_regex("\n");
  });
  const uint64_t scanned = net_internal::delimiter_bytes_scanned() - before;
  EXPECT_EQ(line, data);
  EXPECT_LE(scanned, 4 * data.size());
}

// The stream reads no further than max_bytes (plus a chunk) while it
// looks for a match: a peer without the pattern cannot make it buffer
// and rescan megabytes.
TEST_F(IOStreamFeaturesTest, ReadUntilRegexStopsReadingAtMaxBytes) {
  int peer;
  IOStream::Options options;
  options.read_chunk_size = 4096;
  IOStream stream = stream_pair(&peer, options);
  const std::string junk(64 * 1024, 'j');
  ASSERT_EQ(::write(peer, junk.data(), junk.size()),
            static_cast<ssize_t>(junk.size()));
  Future<std::string> f = stream.read_until_regex("\n", 1000);
  run([&]() -> Future<void> {
    while (!f.done()) co_await gen::moment;
  });
  EXPECT_TRUE(holds<StreamBufferFullError>(real_error(failure(f))));
  EXPECT_LE(stream.read_buffer_size(), 4096u);
}

// ---- 5. PipeIOStream ------------------------------------------------------

TEST_F(IOStreamFeaturesTest, PipeWriteAfterTheReaderIsGoneFailsWithEpipe) {
  int fds[2];
  make_pipe(fds);
  ::close(fds[0]);
  PipeIOStream writer(fds[1], &loop());
  // Default SIGPIPE disposition: an unblocked SIGPIPE would kill the test.
  Future<void> w = writer.write("nobody reads this");
  std::exception_ptr cause = real_error(failure(w));
  ASSERT_TRUE(holds<std::system_error>(cause));
  try {
    std::rethrow_exception(cause);
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPIPE);
  }
  EXPECT_TRUE(writer.closed());
  // No SIGPIPE left pending, and the thread's mask is as it was.
  sigset_t pending, mask;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_FALSE(sigismember(&mask, SIGPIPE));
}

// A write end whose reader goes away closes (its close callback runs)
// without a write to notice it; queued data fails with EPIPE likewise.
TEST_F(IOStreamFeaturesTest, PipeWriteEndClosesWhenTheReaderGoes) {
  int fds[2];
  make_pipe(fds);
  PipeIOStream writer(fds[1], &loop());
  Future<void> queued = writer.write(std::string(1 << 20, 'q'));  // > pipe
  EXPECT_FALSE(queued.done());
  bool closed = false;
  writer.set_close_callback([&] { closed = true; });
  ::close(fds[0]);
  run([&]() -> Future<void> {
    while (!closed) co_await gen::moment;
  });
  EXPECT_TRUE(holds<std::system_error>(real_error(failure(queued))));
}

TEST_F(IOStreamFeaturesTest, PipeShutdownWriteFlushesThenCloses) {
  int fds[2];
  make_pipe(fds);
  PipeIOStream reader(fds[0], &loop());
  PipeIOStream writer(fds[1], &loop());
  std::string got = run([&]() -> Future<std::string> {
    (void)writer.write(std::string(200 * 1024, 's'));  // more than the pipe holds
    Future<void> shut = writer.shutdown_write();
    Future<std::string> all = reader.read_until_close();
    co_await shut;
    EXPECT_TRUE(writer.closed());
    EXPECT_EQ(writer.error(), nullptr);
    co_return co_await all;
  });
  EXPECT_EQ(got, std::string(200 * 1024, 's'));
}

TEST_F(IOStreamFeaturesTest, PipeSocketOptionsThrowAndReadingAWriteEndThrows) {
  int fds[2];
  make_pipe(fds);
  PipeIOStream reader(fds[0], &loop());
  PipeIOStream writer(fds[1], &loop());
  try {
    reader.set_nodelay(true);
    ADD_FAILURE() << "set_nodelay on a pipe did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOTSOCK);
  }
  EXPECT_THROW(writer.set_keepalive(1s, 1s, 1), std::system_error);
  EXPECT_THROW(writer.set_user_timeout(1s), std::system_error);
  EXPECT_THROW(static_cast<void>(writer.read_bytes(1)), std::logic_error);
  EXPECT_THROW(PipeIOStream(-1, &loop()), std::invalid_argument);
  // Writing to a read end fails (EBADF) and closes that stream.
  int other[2];
  make_pipe(other);
  fds_.push_back(other[1]);
  PipeIOStream other_reader(other[0], &loop());
  Future<void> wrong_way = other_reader.write("x");
  EXPECT_TRUE(holds<std::system_error>(real_error(failure(wrong_way))));
  EXPECT_TRUE(other_reader.closed());
  // A copy as IOStream is the same pipe stream.
  IOStream as_iostream = writer;
  std::string got = run([&]() -> Future<std::string> {
    co_await as_iostream.write("through the base\n");
    co_return co_await reader.read_until("\n");
  });
  EXPECT_EQ(got, "through the base\n");
}

// Backpressure and deadlines work on pipes as on sockets.
TEST_F(IOStreamFeaturesTest, PipeWriteTimeoutAndMaxWriteBufferSize) {
  int fds[2];
  make_pipe(fds);
  fds_.push_back(fds[0]);  // nobody reads
  IOStream::Options options;
  options.max_write_buffer_size = 1 << 20;
  PipeIOStream writer(fds[1], &loop(), options);
  (void)writer.write(std::string(512 * 1024, 'p'));
  EXPECT_GT(writer.write_buffer_size(), 0u);
  Future<void> timed = writer.write("t", 10ms);
  run([&]() -> Future<void> {
    while (!timed.done()) co_await gen::moment;
  });
  EXPECT_TRUE(holds<TimeoutError>(failure(timed)));
  EXPECT_TRUE(writer.closed());
}

}  // namespace
}  // namespace tornado
