// GCC 12 warns falsely (-Wmaybe-uninitialized, GCC bug 105616) inside
// libstdc++'s std::regex compiler at -O1 with ASan (--config=asan): the
// library's headers are read with the warning off, our code with it on.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // GCC's option; clang has none
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <functional>
#include <regex>
#pragma GCC diagnostic pop

#include "tornado/net/iostream.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "tornado/logging/logging.h"

namespace tornado {

namespace {
std::string closed_message(const std::exception_ptr& cause) {
  return cause ? "Stream is closed: " + logging::describe(cause)
               : std::string("Stream is closed");
}
}  // namespace

StreamClosedError::StreamClosedError(std::exception_ptr real_error)
    : std::runtime_error(closed_message(real_error)),
      real_error_(std::move(real_error)) {}

namespace net_internal {

namespace {
// A done Future<void> per thread, handed out by writes that flushed at
// once: no allocation on the common path. (Futures are single-threaded;
// namespace scope, see the developers' guide on thread_local.)
thread_local Future<void> tls_done_write = make_ready_future();
// See delimiter_bytes_scanned().
thread_local uint64_t tls_delimiter_bytes_scanned = 0;

// What recv() reads into before the bytes are appended to a stream's
// buffer: one per thread, not one per stream, since it holds nothing
// between reads (an idle stream must not pin a chunk: 15,000 idle
// connections each held 64 KiB). Grows to the largest read_chunk_size
// used on the thread. Streams run on their loop's thread, and nothing
// runs between a recv into it and the append.
thread_local std::unique_ptr<char[]> tls_chunk;
thread_local size_t tls_chunk_size = 0;

char* read_chunk(size_t size) {
  if (tls_chunk_size < size) {
    tls_chunk.reset(new char[size]);
    tls_chunk_size = size;
  }
  return tls_chunk.get();
}

// A read buffer keeps at most this much capacity once it is drained (or
// compacted to a small remainder): enough for the lines of a typical
// request/response exchange without reallocating, little for an idle
// connection.
constexpr size_t kRetainedReadCapacity = 4096;

// Blocks SIGPIPE on this thread around a write to a pipe (sockets have
// MSG_NOSIGNAL; pipes have nothing like it, and a library must not change
// the process's disposition). A SIGPIPE the write raised is consumed before
// the old mask comes back, unless one was already pending before.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~ScopedSigpipeBlock() {
    const int saved_errno = errno;  // the write's, for the caller
    if (epipe_ && !was_pending_) {
      timespec zero{};
      while (sigtimedwait(&sigpipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved_errno;
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

  // The write failed with EPIPE: a SIGPIPE is pending for this thread.
  void raised() { epipe_ = true; }

 private:
  sigset_t sigpipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool epipe_ = false;
};

// What a stream's timeout is given as: a duration (from now) or a deadline.
IOLoop::time_point deadline_of(IOLoop& loop,
                               std::optional<IOLoop::duration> timeout,
                               std::optional<IOLoop::time_point> deadline) {
  if (deadline) return *deadline;
  return ioloop_internal::deadline_after(loop.time(), *timeout);
}
}  // namespace

uint64_t delimiter_bytes_scanned() { return tls_delimiter_bytes_scanned; }

// Thread-compatible (the loop's thread). Every entry point from outside
// (the IOStream methods, the loop's fd handler) holds a strong reference
// to the stream while it runs (`keep_alive()`): completing a future runs
// its done-callbacks inline, and one of them may drop the stream's last
// handle (the void-handler form of TCPServer keeps its stream only in a
// read's done-callback).
class StreamImpl final : public std::enable_shared_from_this<StreamImpl>,
                   public future_internal::CancelHook {
 public:
  // CancelHook of the pending read's future: `Future::cancel()` on it
  // withdraws the read (as cancel_read, consuming nothing) and the future
  // completes with CancelledError; the stream stays usable. The hook is
  // cleared whenever the read ends, so it never names a dead stream.
  bool cancel_requested(future_internal::RefCount* state, uintptr_t) noexcept override {
    const auto self = keep_alive();
    const void* current = kind_ == kInto ? future_internal::Access::state_id(into_future_)
                                         : future_internal::Access::state_id(read_future_);
    if (kind_ == kNone || current != state) return false;
    if (kind_ == kInto) {
      Future<size_t> f = std::move(into_future_);
      future_internal::Access::clear_cancel_hook(f);
    } else {
      Future<std::string> f = std::move(read_future_);
      future_internal::Access::clear_cancel_hook(f);
    }
    end_read();
    return false;  // cancel() completes it
  }

  StreamImpl(int fd, IOLoop* loop, IOStream::Options options, bool pipe)
      : fd_(fd),
        anchor_(ioloop_internal::LoopAccess::anchor(*loop)),
        options_(options),
        pipe_(pipe) {
    int flags = fcntl(fd_, F_GETFL);
    if (flags >= 0) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    write_only_ = pipe_ && flags >= 0 && (flags & O_ACCMODE) == O_WRONLY;
  }
  ~StreamImpl() { close(nullptr); }

  Future<std::string> start_read(int kind, size_t n, bool partial,
                                 std::string delimiter, size_t max_bytes,
                                 std::optional<IOLoop::duration> timeout,
                                 std::optional<std::regex> regex = std::nullopt) {
    const auto self = keep_alive();
    check_can_read();
    if (closed_) {
      if (kind == kUntilClose && !error_) return make_ready_future(take(unread()));
      return make_exceptional_future<std::string>(
          std::make_exception_ptr(StreamClosedError(error_)));
    }
    arm_read(kind, n, partial, max_bytes);
    delimiter_ = std::move(delimiter);
    regex_ = std::move(regex);
    read_future_ = Future<std::string>();
    // What gen::dump_coroutines shows a coroutine awaiting.
    static constexpr const char* kLabels[] = {
        "", "IOStream read_bytes", "IOStream read_until",
        "IOStream read_until_close", "IOStream read_until_regex"};
    future_internal::Access::set_label(read_future_, kLabels[kind]);
    future_internal::Access::set_cancel_hook(read_future_, this, 0);
    Future<std::string> result = read_future_;
    wait_for_read(timeout);
    return result;
  }

  // read_into: the bytes are copied into `buf` when the read completes
  // (complete_read), never before, and `into_` is dropped whenever the
  // read ends, however it ends.
  Future<size_t> start_read_into(std::span<char> buf, bool partial,
                                 std::optional<IOLoop::duration> timeout) {
    const auto self = keep_alive();
    check_can_read();
    if (closed_) {
      return make_exceptional_future<size_t>(
          std::make_exception_ptr(StreamClosedError(error_)));
    }
    arm_read(kInto, buf.size(), partial, 0);
    into_ = buf;
    into_future_ = Future<size_t>();
    future_internal::Access::set_label(into_future_, "IOStream read_into");
    future_internal::Access::set_cancel_hook(into_future_, this, 0);
    Future<size_t> result = into_future_;
    wait_for_read(timeout);
    return result;
  }

  void check_can_read() const {
    if (kind_ != kNone) {
      throw std::logic_error("IOStream: a read is already pending");
    }
    if (write_only_) {
      throw std::logic_error("PipeIOStream: cannot read from a pipe's write end");
    }
  }

  void arm_read(int kind, size_t n, bool partial, size_t max_bytes) {
    kind_ = kind;
    ++read_seq_;
    want_ = n;
    partial_ = partial;
    max_bytes_ = max_bytes;
    scanned_ = 0;
    found_ = std::string_view::npos;
  }

  // After a read is armed: completes it from the buffer, or waits for the
  // socket (with its timer, if any).
  void wait_for_read(std::optional<IOLoop::duration> timeout) {
    // Not satisfied from the buffer: wait for the loop's READ event rather
    // than trying the socket now. In a request/response exchange the data
    // is rarely there yet, and the speculative recv would be one wasted
    // syscall per request; level-triggered polling reports data already
    // waiting on the next iteration.
    if (!try_satisfy() && !closed_) {
      try {
        update_interest();
      } catch (...) {
        // The fd cannot be watched (closed under the stream, or the loop
        // is gone): as Tornado's inline read error, the stream closes with
        // the error and the call raises it. The read was never handed out:
        // withdrawn first, so that close() does not fail (and log) it.
        end_read();
        close(std::current_exception());
        throw;
      }
      if (timeout && kind_ != kNone) {
        IOLoop* l = loop();
        if (l == nullptr) ioloop_internal::throw_closed("IOStream");
        // The read's sequence number: the timer is removed when the read
        // ends, but a timer already due may still run; it then finds
        // another read (or none) and does nothing.
        read_timer_ = l->call_later(
            *timeout, [weak = weak_from_this(), seq = read_seq_] {
              auto self = weak.lock();
              if (self == nullptr || self->read_seq_ != seq) return;
              self->read_timer_ = IOLoop::Timeout();
              self->cancel_read(std::make_exception_ptr(
                  TimeoutError("IOStream: read timed out")));
            });
      }
    }
  }

  // A timed write if `timeout` or `deadline` is set (see
  // IOStream::write(data, timeout)).
  Future<void> write(std::string data,
                     std::optional<IOLoop::duration> timeout = std::nullopt,
                     std::optional<IOLoop::time_point> deadline = std::nullopt) {
    const auto self = keep_alive();
    if (closed_ || write_shutdown_) {
      return make_exceptional_future<void>(
          std::make_exception_ptr(StreamClosedError(error_)));
    }
    const bool timed = timeout || deadline;
    // Nothing is sent unless the timer can be set (construct, then publish).
    if (timed && loop() == nullptr) ioloop_internal::throw_closed("IOStream");
    if (const size_t limit = options_.max_write_buffer_size;
        limit != 0 &&
        (data.size() > limit || write_buffer_size() > limit - data.size())) {
      auto error = std::make_exception_ptr(StreamBufferFullError(
          "IOStream: reached the maximum write buffer size (" +
          std::to_string(limit) + " bytes)"));
      close(error);
      return make_exceptional_future<void>(std::move(error));
    }
    if (wbuf_.empty()) {
      // Fast path: send straight from `data`; queue only what is left.
      size_t sent = 0;
      while (sent < data.size()) {
        ssize_t n = send_some(data.data() + sent, data.size() - sent);
        if (n >= 0) {
          sent += static_cast<size_t>(n);
          continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        close(std::make_exception_ptr(std::system_error(
            errno, std::generic_category(), "IOStream: send failed")));
        return make_exceptional_future<void>(
            std::make_exception_ptr(StreamClosedError(error_)));
      }
      queued_ += sent;
      written_ += sent;
      if (sent == data.size()) return tls_done_write;
      data.erase(0, sent);
    }
    Future<void> done;
    future_internal::Access::set_label(done, "IOStream write");
    const uint64_t end = queued_ + data.size();
    IOLoop::Timeout timer;
    if (timed) {
      IOLoop* l = loop();
      // The timer holds the write's future to find its entry; it is removed
      // when the write completes or the stream closes, and one already due
      // then finds no entry and does nothing.
      timer = l->call_at(deadline_of(*l, timeout, deadline),
                         [weak = weak_from_this(), done] {
                           if (auto self = weak.lock()) self->write_timed_out(done);
                         });
    }
    if (!data.empty()) {
      queued_ = end;
      wbuf_.push_back(std::move(data));
    }
    write_futures_.push_back({end, done, timer});
    if (!(registered_ & IOLoop::WRITE)) flush();  // try at once
    if (!closed_) {
      try {
        update_interest();
      } catch (...) {
        // As for a read (wait_for_read): closed with the error, raised.
        close(std::current_exception());
        throw;
      }
    }
    return done;
  }

  Future<void> wait_for_drain(size_t low_water_mark) {
    const auto self = keep_alive();
    if (closed_) {
      return make_exceptional_future<void>(
          std::make_exception_ptr(StreamClosedError(error_)));
    }
    if (write_buffer_size() <= low_water_mark) return make_ready_future();
    Future<void> f;
    future_internal::Access::set_label(f, "IOStream wait_for_drain");
    drain_waiters_.emplace_back(low_water_mark, f);
    return f;
  }

  // Queued writes are flushed, then the write side is shut down (the peer
  // reads EOF); reading goes on.
  Future<void> shutdown_write() {
    const auto self = keep_alive();
    if (closed_) {
      return make_exceptional_future<void>(
          std::make_exception_ptr(StreamClosedError(error_)));
    }
    if (write_shutdown_) {
      return shutdown_pending_ ? shutdown_future_ : make_ready_future();
    }
    write_shutdown_ = true;
    shutdown_future_ = Future<void>();
    future_internal::Access::set_label(shutdown_future_, "IOStream shutdown_write");
    shutdown_pending_ = true;
    Future<void> result = shutdown_future_;
    if (wbuf_.empty()) finish_shutdown();  // else when flush() drains wbuf_
    return result;
  }

  void close(std::exception_ptr cause) {
    if (closed_) return;
    // Null when called from the destructor.
    const auto self = keep_alive();
    closed_ = true;
    error_ = std::move(cause);
    if (registered_ != kUnregistered) {
      if (IOLoop* l = loop()) l->remove_handler(fd_);
    }
    registered_ = kUnregistered;
    ::close(fd_);
    // Pending operations learn why; nobody is required to read a write's
    // failure (a closed peer is the common case), so it is not logged.
    auto writes = std::move(write_futures_);
    write_futures_.clear();
    wbuf_.clear();
    wfront_offset_ = 0;
    queued_ = written_;  // nothing is queued any more
    auto drains = std::move(drain_waiters_);
    drain_waiters_.clear();
    for (PendingWrite& w : writes) remove_timer(w.timer);
    for (PendingWrite& w : writes) fail_quietly(w.future);
    for (auto& [mark, f] : drains) fail_quietly(f);
    if (shutdown_pending_) {
      shutdown_pending_ = false;
      Future<void> f = std::move(shutdown_future_);
      fail_quietly(f);
    }
    if (kind_ == kUntilClose && !error_) {
      Future<std::string> f = std::move(read_future_);
      future_internal::Access::clear_cancel_hook(f);
      end_read();
      f.set_result(take(unread()));
    } else if (kind_ != kNone) {
      fail_read(std::make_exception_ptr(StreamClosedError(error_)));
    }
    if (close_callback_) {
      if (IOLoop* l = loop()) l->add_callback(std::move(close_callback_));
    }
    close_callback_ = nullptr;
  }

  // A write-side future fails with StreamClosedError, unless whoever
  // awaited it cancelled it (a cancelled write's bytes still go out: a
  // byte stream cannot take back part of a write). Not logged: nobody is
  // required to read a write's failure.
  void fail_quietly(Future<void>& f) {
    if (f.done()) return;
    f.set_exception(std::make_exception_ptr(StreamClosedError(error_)));
    static_cast<void>(f.exception());
  }
  static void succeed_unless_cancelled(Future<void>& f) {
    if (!f.done()) f.set_result();
  }

  void set_close_callback(std::function<void()> cb) {
    if (closed_) {
      if (IOLoop* l = loop(); cb && l != nullptr) l->add_callback(std::move(cb));
      return;
    }
    close_callback_ = std::move(cb);
  }

  // The read ends without consuming anything: its bytes stay buffered
  // (a read takes its bytes only when it completes), and the stream goes
  // back to reading at most a chunk ahead.
  void cancel_read(std::exception_ptr cause) {
    const auto self = keep_alive();
    if (kind_ == kNone) return;
    if (!cause) {
      cause = std::make_exception_ptr(
          ReadCancelledError("IOStream: the read was cancelled"));
    }
    fail_read(std::move(cause));
  }

  size_t read_buffer_size() const { return unread(); }
  size_t read_buffer_capacity() const { return rbuf_.capacity(); }
  size_t write_buffer_size() const { return static_cast<size_t>(queued_ - written_); }
  uint64_t bytes_received() const { return received_; }
  uint64_t bytes_sent() const { return written_; }

  bool closed() const { return closed_; }
  const std::exception_ptr& error() const { return error_; }
  bool writing() const { return !wbuf_.empty(); }
  bool reading() const { return kind_ != kNone; }
  int fd() const { return fd_; }

  static constexpr int kNone = 0, kBytes = 1, kUntil = 2, kUntilClose = 3,
                       kRegex = 4, kInto = 5;

 private:
  static constexpr uint32_t kUnregistered = 0xffffffff;

  // A strong reference for the duration of an entry point (see the class
  // comment); null once the last handle is gone (in the destructor).
  std::shared_ptr<StreamImpl> keep_alive() { return weak_from_this().lock(); }

  void finish_shutdown() {
    if (pipe_) {
      // No half-close on a pipe: closing the write end is the EOF.
      shutdown_pending_ = false;
      Future<void> f = std::move(shutdown_future_);
      close(nullptr);
      succeed_unless_cancelled(f);
      return;
    }
    if (::shutdown(fd_, SHUT_WR) != 0 && errno != ENOTCONN) {
      close(std::make_exception_ptr(std::system_error(
          errno, std::generic_category(), "IOStream: shutdown failed")));
      return;
    }
    shutdown_pending_ = false;
    Future<void> f = std::move(shutdown_future_);
    succeed_unless_cancelled(f);
  }

  size_t unread() const { return rbuf_.size() - rpos_; }

  // Consumes `n` unread bytes. Gives back the buffer's capacity once it is
  // drained, or compacts it once the consumed prefix outweighs the rest
  // (each compaction copies less than was consumed since the last one, so
  // reading many small lines from a large buffer stays linear); a large
  // buffer left with a small remainder is reallocated to fit.
  std::string take(size_t n, bool discard = false) {
    std::string out = discard ? std::string() : rbuf_.substr(rpos_, n);
    rpos_ += n;
    if (rpos_ == rbuf_.size()) {
      rpos_ = 0;
      if (rbuf_.capacity() > kRetainedReadCapacity) {
        std::string().swap(rbuf_);
      } else {
        rbuf_.clear();
      }
    } else if (rpos_ > unread() &&
               (rpos_ > 64 * 1024 || rbuf_.capacity() > kRetainedReadCapacity)) {
      rbuf_.erase(0, rpos_);
      rpos_ = 0;
      if (rbuf_.capacity() > kRetainedReadCapacity &&
          rbuf_.size() < rbuf_.capacity() / 4) {
        rbuf_.shrink_to_fit();
      }
    }
    return out;
  }

  void remove_timer(IOLoop::Timeout& timer) {
    if (!timer) return;
    if (IOLoop* l = loop()) l->remove_timeout(timer);
    timer = IOLoop::Timeout();
  }
  void remove_read_timer() { remove_timer(read_timer_); }

  // The pending read ends (its future already moved out): back to no read.
  void end_read() {
    kind_ = kNone;
    scanned_ = 0;
    found_ = std::string_view::npos;
    regex_.reset();
    into_ = {};
    remove_read_timer();
  }

  void complete_read(size_t n) {
    if (kind_ == kInto) {
      Future<size_t> f = std::move(into_future_);
      future_internal::Access::clear_cancel_hook(f);
      // Into the caller's buffer only now, with the result set right after.
      if (n > 0) std::memcpy(into_.data(), rbuf_.data() + rpos_, n);
      end_read();
      take(n, /*discard=*/true);
      f.set_result(n);
      return;
    }
    Future<std::string> f = std::move(read_future_);
    future_internal::Access::clear_cancel_hook(f);
    end_read();
    f.set_result(take(n));
  }

  // The pending read fails with `error`, consuming nothing.
  void fail_read(std::exception_ptr error) {
    if (kind_ == kInto) {
      Future<size_t> f = std::move(into_future_);
      future_internal::Access::clear_cancel_hook(f);
      end_read();
      f.set_exception(std::move(error));
      return;
    }
    Future<std::string> f = std::move(read_future_);
    future_internal::Access::clear_cancel_hook(f);
    end_read();
    f.set_exception(std::move(error));
  }

  // A timed write's deadline passed: if `done` is still pending, it fails
  // with TimeoutError and the stream closes with it (the write may be
  // partly sent; see IOStream::write).
  void write_timed_out(const Future<void>& done) {
    auto it = std::find_if(write_futures_.begin(), write_futures_.end(),
                           [&](const PendingWrite& w) { return w.future == done; });
    if (it == write_futures_.end()) return;
    Future<void> f = std::move(it->future);
    write_futures_.erase(it);
    auto error = std::make_exception_ptr(
        TimeoutError("IOStream: write timed out"));
    // Closed first: whoever awaits the write resumes on a closed stream.
    close(error);
    if (f.done()) return;  // cancelled by whoever awaited it
    f.set_exception(std::move(error));
    f.exception();  // not required to be read, as close()'s failures
  }

  void buffer_full() {
    close(std::make_exception_ptr(StreamBufferFullError(
        "IOStream: reached the maximum read buffer size (" +
        std::to_string(options_.max_buffer_size) + " bytes)")));
  }

  // Completes the pending read from the buffer if it can; closes the
  // stream when it never will (EOF, or a limit reached).
  bool try_satisfy() {
    const size_t avail = unread();
    switch (kind_) {
      case kNone:
        return false;
      case kBytes:
      case kInto:
        if (avail >= want_ || (partial_ && avail > 0)) {
          complete_read(std::min(avail, want_));
          return true;
        }
        if (want_ > options_.max_buffer_size) {
          buffer_full();
          return true;
        }
        break;
      case kUntil:
      case kRegex: {
        if (size_t n = find_end(); n != std::string_view::npos) {
          if (max_bytes_ != 0 && n > max_bytes_) {
            not_found_within_max_bytes();
            return true;
          }
          complete_read(n);
          return true;
        }
        if (max_bytes_ != 0 && avail >= max_bytes_) {
          not_found_within_max_bytes();
          return true;
        }
        break;
      }
      case kUntilClose:
        if (eof_) {
          close(nullptr);  // completes the read with the buffer
          return true;
        }
        break;
    }
    // EOF ends reading only here: once the buffer cannot satisfy the
    // pending read (Tornado reads the buffer before _check_closed).
    if (eof_) {
      close(nullptr);  // the data will never come: StreamClosedError
      return true;
    }
    return false;
  }

  void not_found_within_max_bytes() {
    const char* what = kind_ == kRegex ? "IOStream::read_until_regex: regex"
                                       : "IOStream::read_until: delimiter";
    close(std::make_exception_ptr(StreamBufferFullError(
        std::string(what) + " not found within " + std::to_string(max_bytes_) +
        " bytes")));
  }

  size_t find_end() { return kind_ == kRegex ? find_regex() : find_delimiter(); }

  // read_until_regex: the end of the first match in the unread bytes, or
  // npos. std::regex cannot resume a search: each time new bytes arrive,
  // all the unread bytes are searched again (bounded by max_bytes, beyond
  // which the stream does not read). The end of the buffer is not the end
  // of the input: `$` and `\b` never match there.
  size_t find_regex() {
    if (found_ != std::string_view::npos) return found_;
    const size_t avail = unread();
    if (avail == scanned_) return std::string_view::npos;  // nothing new
    const char* begin = rbuf_.data() + rpos_;
    std::cmatch match;
    if (std::regex_search(begin, begin + avail, match, *regex_,
                          std::regex_constants::match_not_eol |
                              std::regex_constants::match_not_eow)) {
      found_ = static_cast<size_t>(match.position(0) + match.length(0));
    }
    tls_delimiter_bytes_scanned += avail;  // the search may look at all of it
    scanned_ = avail;
    return found_;
  }

  // read_until: the end of the first delimiter in the unread bytes, or
  // npos. Resumes where the last search stopped, less the bytes that could
  // start a delimiter completed by the new data: a long line arriving in
  // pieces is searched once, not once per piece. A find is remembered
  // (found_) until the read completes: the unread bytes only grow at the
  // end meanwhile.
  size_t find_delimiter() {
    if (found_ != std::string_view::npos) return found_;
    const size_t avail = unread();
    if (avail == scanned_) return std::string_view::npos;  // nothing new
    std::string_view data(rbuf_.data() + rpos_, avail);
    const size_t from = scanned_ >= delimiter_.size() - 1
                            ? scanned_ - (delimiter_.size() - 1)
                            : 0;
    size_t pos = data.find(delimiter_, from);
    tls_delimiter_bytes_scanned +=
        (pos != std::string_view::npos ? pos + delimiter_.size() : avail) - from;
    scanned_ = avail;
    if (pos != std::string_view::npos) found_ = pos + delimiter_.size();
    return found_;
  }

  // Whether the buffer already holds what the pending read needs (or
  // enough to fail it: read_until's max_bytes without the delimiter).
  bool read_satisfiable() {
    const size_t avail = unread();
    switch (kind_) {
      case kBytes:
      case kInto:
        return avail >= want_ || (partial_ && avail > 0);
      case kUntil:
        return find_delimiter() != std::string_view::npos ||
               (max_bytes_ != 0 && avail >= max_bytes_);
      case kRegex:
        // A regex search cannot resume: within one burst of reads, search
        // again only once the buffer has doubled since the last search
        // (try_satisfy searches all of it after the burst). The burst's
        // searches then cost O(its bytes), not O(bytes^2 / chunk), for at
        // most twice the bytes the match needed read from the socket.
        if (found_ == std::string_view::npos && avail / 2 >= scanned_) {
          find_regex();
        }
        return found_ != std::string_view::npos ||
               (max_bytes_ != 0 && avail >= max_bytes_);
      default:
        return false;
    }
  }

  // Backpressure: see Options::write_high_water_mark.
  bool reads_paused() const {
    return options_.write_high_water_mark != 0 &&
           write_buffer_size() > options_.write_high_water_mark;
  }

  // Reads from the socket a chunk at a time, and only as far as needed
  // (Tornado's stopping rule): until the pending read can be satisfied (or
  // failed), up to max_buffer_size for read_until_close; one chunk ahead
  // while no read is pending. What the stream does not need stays in the
  // kernel, where it throttles the peer: a read_until with a 16-byte limit
  // used to pull in everything the kernel held (1 MiB) before noticing.
  void read_from_socket() {
    const size_t limit =
        kind_ != kNone ? options_.max_buffer_size : options_.read_chunk_size;
    while (!eof_ && unread() < limit && !reads_paused() && !read_satisfiable()) {
      size_t room = std::min(options_.read_chunk_size, limit - unread());
      // Into the thread's chunk, then appended: growing the string itself
      // would zero-fill the whole chunk on every read.
      char* chunk = read_chunk(options_.read_chunk_size);
      ssize_t n = pipe_ ? ::read(fd_, chunk, room) : ::recv(fd_, chunk, room, 0);
      if (n > 0) {
        rbuf_.append(chunk, static_cast<size_t>(n));
        received_ += static_cast<uint64_t>(n);
        if (static_cast<size_t>(n) < room) break;  // drained for now
        continue;
      }
      if (n == 0) {
        eof_ = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        close(std::make_exception_ptr(std::system_error(
            errno, std::generic_category(), "IOStream: recv failed")));
      }
      break;
    }
    if (!closed_ && kind_ != kNone && unread() >= options_.max_buffer_size &&
        !eof_) {
      // Full and the read is still not satisfied (checked by the caller).
      if (!try_satisfy() && !closed_) buffer_full();
    }
  }

  void flush() {
    while (!wbuf_.empty()) {
      iovec iov[64];
      int count = 0;
      size_t offset = wfront_offset_;
      for (auto it = wbuf_.begin(); it != wbuf_.end() && count < 64; ++it) {
        iov[count].iov_base = it->data() + offset;
        iov[count].iov_len = it->size() - offset;
        offset = 0;
        ++count;
      }
      ssize_t n = send_iov(iov, count);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        close(std::make_exception_ptr(std::system_error(
            errno, std::generic_category(), "IOStream: send failed")));
        return;
      }
      written_ += static_cast<uint64_t>(n);
      size_t left = static_cast<size_t>(n);
      while (left > 0) {
        size_t front = wbuf_.front().size() - wfront_offset_;
        if (left >= front) {
          left -= front;
          wbuf_.pop_front();
          wfront_offset_ = 0;
        } else {
          wfront_offset_ += left;
          left = 0;
        }
      }
    }
    while (!write_futures_.empty() && write_futures_.front().end <= written_) {
      Future<void> f = std::move(write_futures_.front().future);
      remove_timer(write_futures_.front().timer);
      write_futures_.pop_front();
      succeed_unless_cancelled(f);
      if (closed_) return;  // a callback closed the stream
    }
    notify_drained();
    if (closed_) return;
    if (shutdown_pending_ && wbuf_.empty()) finish_shutdown();
  }

  // Completes the wait_for_drain futures whose mark the queue is down to.
  // (Collected first: their callbacks may write, wait again, or close.)
  void notify_drained() {
    if (drain_waiters_.empty()) return;
    const size_t left = write_buffer_size();
    std::vector<Future<void>> ready;
    for (auto it = drain_waiters_.begin(); it != drain_waiters_.end();) {
      if (left <= it->first) {
        ready.push_back(std::move(it->second));
        it = drain_waiters_.erase(it);
      } else {
        ++it;
      }
    }
    for (Future<void>& f : ready) succeed_unless_cancelled(f);
  }

  // One write system call: send() on a socket (MSG_NOSIGNAL), write() on a
  // pipe (with SIGPIPE blocked). Sets errno as they do.
  ssize_t send_some(const char* data, size_t size) {
    if (!pipe_) return ::send(fd_, data, size, MSG_NOSIGNAL);
    ScopedSigpipeBlock block;
    ssize_t n = ::write(fd_, data, size);
    if (n < 0 && errno == EPIPE) block.raised();
    return n;
  }
  ssize_t send_iov(iovec* iov, int count) {
    if (!pipe_) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = count;
      return ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    ScopedSigpipeBlock block;
    ssize_t n = ::writev(fd_, iov, count);
    if (n < 0 && errno == EPIPE) block.raised();
    return n;
  }

  // The peer's EOF does not close the stream: what was read before it is
  // still served to later reads (the handler may be busy when the FIN
  // arrives), and a half-closed peer can still be written to. The stream
  // closes when a read finds the buffer cannot satisfy it (try_satisfy),
  // on an error, or by close().
  void handle_events(uint32_t events) {
    if (closed_) return;
    if ((events & (IOLoop::READ | IOLoop::ERROR)) && !write_only_) {
      read_from_socket();
      if (closed_) return;
      try_satisfy();
      if (closed_) return;
    }
    if ((events & IOLoop::WRITE) || (events & IOLoop::ERROR)) {
      flush();
      if (closed_) return;
    }
    if ((events & IOLoop::ERROR) && write_only_) {
      // A pipe's write end reports an error once its reader is gone.
      close(std::make_exception_ptr(std::system_error(
          EPIPE, std::generic_category(),
          "IOStream: the pipe's read end is closed")));
      return;
    }
    if ((events & IOLoop::ERROR) && !(events & IOLoop::READ)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        close(std::make_exception_ptr(std::system_error(
            err, std::generic_category(), "IOStream: socket error")));
        return;
      }
      // A hangup without an error while we are not reading: the data
      // before it is still to be read when a read asks. The hangup is
      // level-triggered, so update_interest stops watching the fd until
      // then (no spinning).
      hup_ = true;
    }
    update_interest();
  }

  void update_interest() {
    uint32_t want = 0;
    if (!eof_ && !write_only_ && !reads_paused() &&
        (kind_ != kNone || unread() < options_.read_chunk_size)) {
      want |= IOLoop::READ;
    }
    if (!wbuf_.empty()) want |= IOLoop::WRITE;
    if (hup_ && want == 0) {
      // After a hangup the loop would report the fd on every poll (ERROR
      // is always watched): unregister while nothing is wanted.
      if (registered_ != kUnregistered) {
        if (IOLoop* l = loop()) l->remove_handler(fd_);
        registered_ = kUnregistered;
      }
      return;
    }
    if (want == registered_) return;
    IOLoop* l = loop();
    if (l == nullptr) ioloop_internal::throw_closed("IOStream");
    if (registered_ == kUnregistered) {
      // A weak reference: the loop's handler must not keep the stream
      // alive (the last handle closes it); it holds a strong one while it
      // dispatches.
      l->add_handler(
          fd_,
          [weak = weak_from_this()](int, uint32_t ev) {
            if (auto self = weak.lock()) self->handle_events(ev);
          },
          want);
    } else {
      l->update_handler(fd_, want);
    }
    registered_ = want;
  }

  // The stream's loop, or null once it is closed or destroyed: a stream may
  // outlive its loop (its last handle kept elsewhere), and then only
  // closes its fd.
  IOLoop* loop() const { return anchor_->get(); }

  int fd_;
  std::shared_ptr<ioloop_internal::LoopAnchor> anchor_;
  IOStream::Options options_;
  // A PipeIOStream: read()/write() instead of recv()/send(); a write end
  // (O_WRONLY) is never read from.
  bool pipe_;
  bool write_only_ = false;
  bool closed_ = false;
  bool eof_ = false;  // the peer's FIN was read (reads drain rbuf_ first)
  bool hup_ = false;  // a hangup was reported while not reading
  std::exception_ptr error_;
  uint32_t registered_ = kUnregistered;
  std::function<void()> close_callback_;

  // Read side: unread bytes are rbuf_[rpos_, end).
  std::string rbuf_;
  size_t rpos_ = 0;
  int kind_ = kNone;
  size_t want_ = 0;
  bool partial_ = false;
  std::string delimiter_;
  size_t max_bytes_ = 0;
  // read_until: the unread bytes already searched for delimiter_, and the
  // end of the delimiter once found (npos until then).
  // read_until_regex's regex is scanned_/found_'s too.
  size_t scanned_ = 0;
  size_t found_ = std::string_view::npos;
  std::optional<std::regex> regex_;
  Future<std::string> read_future_;
  // read_into: the caller's buffer (empty when no read_into is pending)
  // and the read's future (read_future_ is the other reads').
  std::span<char> into_;
  Future<size_t> into_future_;
  uint64_t received_ = 0;  // bytes recv'd, ever
  // Counts reads, so that a read's timer never cancels a later read.
  uint64_t read_seq_ = 0;
  IOLoop::Timeout read_timer_;  // the pending read's timeout, if any

  // Write side: queued strings, written from wbuf_.front()[wfront_offset_].
  std::deque<std::string> wbuf_;
  size_t wfront_offset_ = 0;
  uint64_t queued_ = 0, written_ = 0;
  // A write's future is done once written_ reaches its end; a timed write
  // has its timer.
  struct PendingWrite {
    uint64_t end;
    Future<void> future;
    IOLoop::Timeout timer;
  };
  std::deque<PendingWrite> write_futures_;
  // wait_for_drain(): (low water mark, future), done once
  // write_buffer_size() <= mark.
  std::vector<std::pair<size_t, Future<void>>> drain_waiters_;
  // shutdown_write(): no writes after it; SHUT_WR once wbuf_ is flushed.
  bool write_shutdown_ = false;
  bool shutdown_pending_ = false;
  Future<void> shutdown_future_;
};

}  // namespace net_internal

IOStream::IOStream(int fd, IOLoop* loop) : IOStream(fd, loop, Options()) {}

IOStream::IOStream(int fd, IOLoop* loop, Options options) {
  if (fd < 0) {
    throw std::invalid_argument("IOStream: invalid fd " + std::to_string(fd));
  }
  impl_ = std::make_shared<net_internal::StreamImpl>(
      fd, loop != nullptr ? loop : &IOLoop::current(), options, false);
}

IOStream::IOStream(PipeTag, int fd, IOLoop* loop, Options options) {
  if (fd < 0) {
    throw std::invalid_argument("PipeIOStream: invalid fd " + std::to_string(fd));
  }
  impl_ = std::make_shared<net_internal::StreamImpl>(
      fd, loop != nullptr ? loop : &IOLoop::current(), options, true);
}

PipeIOStream::PipeIOStream(int fd, IOLoop* loop)
    : PipeIOStream(fd, loop, Options()) {}

PipeIOStream::PipeIOStream(int fd, IOLoop* loop, Options options)
    : IOStream(PipeTag(), fd, loop, options) {}

Future<std::string> IOStream::read_bytes(size_t n, bool partial) {
  return impl_->start_read(net_internal::StreamImpl::kBytes, n, partial, {}, 0,
                           std::nullopt);
}

Future<std::string> IOStream::read_bytes_impl(
    size_t n, bool partial, std::optional<IOLoop::duration> timeout) {
  return impl_->start_read(net_internal::StreamImpl::kBytes, n, partial, {}, 0,
                           timeout);
}

Future<std::string> IOStream::read_until(std::string delimiter, size_t max_bytes) {
  return read_until_impl(std::move(delimiter), max_bytes, std::nullopt);
}

Future<std::string> IOStream::read_until_impl(
    std::string delimiter, size_t max_bytes,
    std::optional<IOLoop::duration> timeout) {
  if (delimiter.empty()) {
    throw std::invalid_argument("IOStream::read_until: empty delimiter");
  }
  return impl_->start_read(net_internal::StreamImpl::kUntil, 0, false,
                           std::move(delimiter), max_bytes, timeout);
}

Future<std::string> IOStream::read_until_regex(std::regex regex,
                                               size_t max_bytes) {
  return read_until_regex_impl(std::move(regex), max_bytes, std::nullopt);
}

Future<std::string> IOStream::read_until_regex(std::string_view pattern,
                                               size_t max_bytes) {
  return read_until_regex_impl(compile(pattern), max_bytes, std::nullopt);
}

std::regex IOStream::compile(std::string_view pattern) {
  return std::regex(pattern.begin(), pattern.end());
}

Future<std::string> IOStream::read_until_regex_impl(
    std::regex regex, size_t max_bytes,
    std::optional<IOLoop::duration> timeout) {
  return impl_->start_read(net_internal::StreamImpl::kRegex, 0, false, {},
                           max_bytes, timeout, std::move(regex));
}

Future<size_t> IOStream::read_into(std::span<char> buf, bool partial) {
  return impl_->start_read_into(buf, partial, std::nullopt);
}

Future<size_t> IOStream::read_into_impl(
    std::span<char> buf, bool partial,
    std::optional<IOLoop::duration> timeout) {
  return impl_->start_read_into(buf, partial, timeout);
}

Future<std::string> IOStream::read_until_close() {
  return impl_->start_read(net_internal::StreamImpl::kUntilClose, 0, false, {},
                           0, std::nullopt);
}

Future<void> IOStream::write(std::string data) {
  return impl_->write(std::move(data));
}

Future<void> IOStream::write_impl(std::string data,
                                  std::optional<IOLoop::duration> timeout,
                                  std::optional<IOLoop::time_point> deadline) {
  return impl_->write(std::move(data), timeout, deadline);
}

Future<void> IOStream::wait_for_drain(size_t low_water_mark) {
  return impl_->wait_for_drain(low_water_mark);
}

Future<void> IOStream::shutdown_write() { return impl_->shutdown_write(); }

void IOStream::close(std::exception_ptr cause) { impl_->close(std::move(cause)); }
bool IOStream::closed() const { return impl_->closed(); }
std::exception_ptr IOStream::error() const { return impl_->error(); }
void IOStream::set_close_callback(std::function<void()> cb) {
  impl_->set_close_callback(std::move(cb));
}
bool IOStream::writing() const { return impl_->writing(); }
bool IOStream::reading() const { return impl_->reading(); }
int IOStream::fileno() const { return impl_->fd(); }
void IOStream::cancel_read(std::exception_ptr cause) {
  impl_->cancel_read(std::move(cause));
}
size_t IOStream::read_buffer_size() const { return impl_->read_buffer_size(); }
size_t IOStream::read_buffer_capacity() const {
  return impl_->read_buffer_capacity();
}
size_t IOStream::write_buffer_size() const { return impl_->write_buffer_size(); }
uint64_t IOStream::bytes_received() const { return impl_->bytes_received(); }
uint64_t IOStream::bytes_sent() const { return impl_->bytes_sent(); }

namespace {
void set_option(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            std::string("IOStream: cannot set ") + what);
  }
}
}  // namespace

void IOStream::set_nodelay(bool on) {
  set_option(fileno(), IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "TCP_NODELAY");
}

void IOStream::set_keepalive(std::chrono::seconds idle,
                             std::chrono::seconds interval, int count) {
  if (idle.count() < 1 || interval.count() < 1 || count < 1) {
    throw std::invalid_argument(
        "IOStream::set_keepalive: idle and interval must be at least 1 s, "
        "count at least 1");
  }
  const int fd = fileno();
  auto clamp = [](long long v) { return static_cast<int>(std::min<long long>(v, 32767)); };
  set_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
  set_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, clamp(idle.count()), "TCP_KEEPIDLE");
  set_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, clamp(interval.count()), "TCP_KEEPINTVL");
  set_option(fd, IPPROTO_TCP, TCP_KEEPCNT, std::min(count, 127), "TCP_KEEPCNT");
}

void IOStream::set_user_timeout(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) {
    throw std::invalid_argument("IOStream::set_user_timeout: negative timeout");
  }
  const long long ms = std::min<long long>(timeout.count(), 0x7fffffff);
  set_option(fileno(), IPPROTO_TCP, TCP_USER_TIMEOUT, static_cast<int>(ms),
             "TCP_USER_TIMEOUT");
}

}  // namespace tornado
