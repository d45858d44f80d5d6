// -----------------------------------------------------------------------------
// iostream.h
// -----------------------------------------------------------------------------
//
// `IOStream`: reads and writes on a non-blocking socket, with futures
// (Tornado 4.5's `tornado.iostream.IOStream`).
//
//   tornado::IOStream stream(fd);                    // takes the fd
//   std::string line = co_await stream.read_until("\r\n", 4096);
//   co_await stream.write("echo: " + line);          // done when flushed
//   stream.close();
//
// - One read at a time: `read_bytes`, `read_until`, `read_until_close`
//   return a future for the data; a second read while one is pending
//   throws std::logic_error.
// - Writes queue their bytes (moved in, never copied again: `writev`
//   straight from the queued strings); each write's future is done once
//   its bytes are flushed to the kernel.
// - The peer's EOF (its FIN, or a hangup) ends reading only once the
//   data received before it has been read: reads are served from the
//   buffer first, and the stream closes when a read finds that the buffer
//   cannot satisfy it. Until then the stream stays open, and a half-closed
//   peer can still be written to. `shutdown_write()` half-closes our side.
// - Closing (by `close()`, by the peer as above, or on an error) fails the
//   pending read and writes with `StreamClosedError`, whose `real_error()`
//   is the cause (null for an orderly close), then runs the close callback
//   on the loop. `read_until_close` instead completes with what was read.
// - The read buffer is bounded (`Options::max_buffer_size`, default
//   100 MiB as Tornado): a read that would need more closes the stream
//   with `StreamBufferFullError`. The stream reads from its socket only as
//   far as the pending read needs (a chunk at a time, until the read can
//   be satisfied, or `read_until`'s `max_bytes` is buffered without the
//   delimiter, which fails it), one chunk ahead while no read is pending,
//   and nothing while its unflushed writes exceed
//   `Options::write_high_water_mark` (a peer that does not read our
//   replies is not read either). The rest stays in the kernel and
//   throttles the peer. A drained buffer gives back its capacity, and the
//   chunk `recv` reads into is per thread, not per stream: an idle stream
//   holds almost nothing.
// - A read can be abandoned: `cancel_read()`, or a read's `timeout`
//   (TimeoutError). The stream stays usable and nothing received is lost:
//   a read consumes its bytes only when it completes.
// - Reads: `read_bytes`, `read_until` (a delimiter), `read_until_regex`,
//   `read_until_close`, and `read_into` (into the caller's buffer).
// - Writes can be bounded: `Options::max_write_buffer_size` rejects (and
//   closes the stream on) a write that would queue more than it;
//   `wait_for_drain(mark)` waits until the queue is down to `mark`; a
//   write given a deadline fails with TimeoutError (and closes the stream)
//   if its bytes are not flushed by then.
// - `PipeIOStream` is the same stream over one end of a pipe.
//
// An `IOStream` is a cheap handle (copies share one stream). The last
// handle going away closes the stream; it may be the one a done-callback
// of the stream's own read or write holds (the stream stays alive until
// it has finished dispatching). Thread-compatible: use a stream on its
// loop's thread.

#ifndef TORNADO_NET_IOSTREAM_H_
#define TORNADO_NET_IOSTREAM_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tornado/future/future.h"
#include "tornado/ioloop/ioloop.h"

namespace tornado {

// StreamClosedError
//
// The stream was closed before the operation could complete.
// `real_error()` is what closed it (null for an orderly close: the peer's
// EOF or a local `close()`).
class StreamClosedError : public std::runtime_error {
 public:
  explicit StreamClosedError(std::exception_ptr real_error = nullptr);
  const std::exception_ptr& real_error() const { return real_error_; }

 private:
  std::exception_ptr real_error_;
};

// StreamBufferFullError
//
// A read needed more than `max_buffer_size` bytes, `read_until`'s or
// `read_until_regex`'s `max_bytes` was reached without a match, or a write
// would have queued more than `max_write_buffer_size` bytes (also the
// cause of the StreamClosedError of operations pending when that
// happened).
class StreamBufferFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ReadCancelledError
//
// The read was abandoned by `IOStream::cancel_read()`; the stream is open.
class ReadCancelledError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace net_internal {
class StreamImpl;

// For tests: how many bytes `read_until`'s delimiter search has examined on
// this thread (each search counts the bytes it looked at), and
// `read_until_regex`'s (each search counts the bytes it was given).
uint64_t delimiter_bytes_scanned();
}  // namespace net_internal

class IOStream {
 public:
  struct Options {
    size_t max_buffer_size = 100 * 1024 * 1024;
    size_t read_chunk_size = 64 * 1024;
    // Backpressure: while more than this many written bytes wait to be
    // flushed (the peer is not reading what we send), the stream reads
    // nothing more from its socket (buffered data is still served), so a
    // peer that sends requests but never reads the replies cannot make us
    // queue replies without bound. 0: never pause.
    size_t write_high_water_mark = 1024 * 1024;
    // Tornado's max_write_buffer_size: a write that would make the bytes
    // queued and not yet flushed exceed this fails with
    // StreamBufferFullError, none of its bytes sent, and closes the stream
    // (see write()). 0: unbounded (Tornado's None, the default).
    size_t max_write_buffer_size = 0;
  };

  // Takes ownership of `fd` (made non-blocking here). `loop` defaults to
  // IOLoop::current(). Throws std::invalid_argument for a negative fd.
  explicit IOStream(int fd, IOLoop* loop = nullptr);
  IOStream(int fd, IOLoop* loop, Options options);

  // IOStream::read_bytes()
  //
  // The next `n` bytes; with `partial`, as soon as any bytes are
  // available (at most `n`).
  Future<std::string> read_bytes(size_t n, bool partial = false);
  // With a deadline, as `read_until`'s.
  template <class Rep, class Period>
  Future<std::string> read_bytes(size_t n, bool partial,
                                 std::chrono::duration<Rep, Period> timeout) {
    return read_bytes_impl(n, partial,
                           ioloop_internal::saturating_duration(timeout));
  }

  // IOStream::read_until()
  //
  // Everything up to and including `delimiter`. If `max_bytes` is not 0
  // and the delimiter is not found within it, the stream is closed with
  // StreamBufferFullError.
  Future<std::string> read_until(std::string delimiter, size_t max_bytes = 0);
  // With a deadline: if the read is not done within `timeout`, it fails
  // with TimeoutError as `cancel_read()` would (the stream stays open and
  // the bytes received so far stay buffered for the next read). Timeouts
  // saturate (`hours::max()`: never), as the loop's.
  template <class Rep, class Period>
  Future<std::string> read_until(std::string delimiter, size_t max_bytes,
                                 std::chrono::duration<Rep, Period> timeout) {
    return read_until_impl(std::move(delimiter), max_bytes,
                           ioloop_internal::saturating_duration(timeout));
  }

  // IOStream::read_until_regex()
  //
  // Everything up to and including the end of the first match of `regex`
  // in the unread bytes (Tornado's read_until_regex); `max_bytes` as
  // read_until's. The string form compiles `pattern` (ECMAScript grammar;
  // throws std::regex_error if it is invalid). The bytes buffered so far
  // are the regex's input: `^` matches at the start of the read, but the
  // end of the buffer is not the end of the input (`$` and a final `\b`
  // never match there, as more data may follow). A greedy match is taken
  // as soon as it is found (`a+` on "aa" gives "aa" even if more `a`s
  // follow), as in Tornado.
  //
  // Cost: std::regex cannot resume a search, so each arrival of data while
  // the read is pending searches all the unread bytes again (within one
  // burst of reads from the socket, only once the buffer has doubled):
  // quadratic in the length of the match if it trickles in, in many small
  // pieces. `max_bytes` bounds it (the stream reads no further than it);
  // give one for untrusted peers. (libstdc++'s regex also recurses per
  // character for patterns like `.*`: a long match may exhaust the stack.)
  Future<std::string> read_until_regex(std::regex regex, size_t max_bytes = 0);
  Future<std::string> read_until_regex(std::string_view pattern,
                                       size_t max_bytes = 0);
  // With a deadline, as `read_until`'s.
  template <class Rep, class Period>
  Future<std::string> read_until_regex(
      std::regex regex, size_t max_bytes,
      std::chrono::duration<Rep, Period> timeout) {
    return read_until_regex_impl(std::move(regex), max_bytes,
                                 ioloop_internal::saturating_duration(timeout));
  }
  template <class Rep, class Period>
  Future<std::string> read_until_regex(
      std::string_view pattern, size_t max_bytes,
      std::chrono::duration<Rep, Period> timeout) {
    return read_until_regex_impl(compile(pattern), max_bytes,
                                 ioloop_internal::saturating_duration(timeout));
  }

  // IOStream::read_until_close()
  //
  // Everything until the peer closes (bounded by max_buffer_size).
  Future<std::string> read_until_close();

  // IOStream::read_into()
  //
  // Fills `buf` (Tornado 5's read_into); with `partial`, completes as soon
  // as any bytes are available (at most `buf.size()`). The result is the
  // number of bytes stored. The caller keeps `buf` alive and untouched
  // until the future is done. The stream writes into `buf` only when the
  // read completes, right before it sets the result: a read that fails
  // (the stream closed, cancel_read(), a timeout) has not written into
  // `buf` at all, and once the future is done the stream no longer refers
  // to `buf` (it may be freed at once, even right after cancel_read() or
  // close()). The bytes are buffered by the stream until then, so
  // `buf.size()` is bounded by max_buffer_size as read_bytes' `n` is.
  Future<size_t> read_into(std::span<char> buf, bool partial = false);
  // With a deadline, as `read_until`'s.
  template <class Rep, class Period>
  Future<size_t> read_into(std::span<char> buf, bool partial,
                           std::chrono::duration<Rep, Period> timeout) {
    return read_into_impl(buf, partial,
                          ioloop_internal::saturating_duration(timeout));
  }

  // IOStream::cancel_read()
  //
  // Abandons the pending read (if any): its future fails with `cause`
  // (ReadCancelledError if null). Nothing is consumed: what was received
  // stays buffered for the next read, and the stream stays open. For a
  // read given up by `gen::with_timeout`, which does not cancel it (and
  // logs the read's late failure); the timeout overloads of the reads
  // need neither.
  void cancel_read(std::exception_ptr cause = nullptr);

  // IOStream::write()
  //
  // Queues `data`; the future is done when it has been flushed. Fails with
  // StreamClosedError on a closed stream.
  //
  // With `Options::max_write_buffer_size`, a write that would take the
  // unflushed bytes over it fails with StreamBufferFullError, none of its
  // bytes queued or sent, and closes the stream with that error as cause
  // (earlier writes still queued fail with StreamClosedError). Tornado 4.5
  // raises the error from write() and leaves the stream open; here the
  // failure is a future's, which a caller may not look at, and a later
  // write accepted after a rejected one would leave a hole in the byte
  // stream the peer cannot detect. Closing makes it impossible to miss.
  Future<void> write(std::string data);

  // With a deadline: if `data` is not entirely flushed to the kernel within
  // `timeout` (or by `deadline`), the write's future fails with
  // TimeoutError and the stream is closed with that TimeoutError as cause
  // (other pending writes and reads fail with StreamClosedError). A write
  // cannot be withdrawn once part of it may have been sent: the peer would
  // see the next write's bytes run on from a torn message, so the only
  // sound outcome is to end the stream (as Asio's and Tornado's callers
  // must). Durations and deadlines saturate (`time_point::max()`: never).
  // A write that flushes at once starts no timer. Throws if the stream's
  // loop is closed.
  template <class Rep, class Period>
  Future<void> write(std::string data,
                     std::chrono::duration<Rep, Period> timeout) {
    return write_impl(std::move(data),
                      ioloop_internal::saturating_duration(timeout),
                      std::nullopt);
  }
  Future<void> write(std::string data, IOLoop::time_point deadline) {
    return write_impl(std::move(data), std::nullopt, deadline);
  }

  // IOStream::wait_for_drain()
  //
  // Done once the bytes queued by write() and not yet flushed are at most
  // `low_water_mark` (at once if they already are): a producer awaits it
  // between writes to keep its queue short without awaiting every write.
  // Fails with StreamClosedError if the stream closes first (or is
  // closed).
  Future<void> wait_for_drain(size_t low_water_mark = 0);

  // IOStream::shutdown_write()
  //
  // Half-closes: once the queued writes are flushed, shuts down the write
  // side (the peer reads EOF; shutdown(SHUT_WR)) and the future is done.
  // Reading goes on. Later writes fail with StreamClosedError, as does the
  // future if the stream closes first. Idempotent.
  Future<void> shutdown_write();

  // IOStream::close()
  //
  // Closes the socket; pending operations fail with StreamClosedError
  // carrying `cause`. Idempotent.
  void close(std::exception_ptr cause = nullptr);
  bool closed() const;

  // The exception that closed the stream (null if open or closed in
  // order).
  std::exception_ptr error() const;

  // Runs `cb()` on the loop once the stream is closed (at once, on the
  // loop, if already closed).
  void set_close_callback(std::function<void()> cb);

  // True while a write is queued and not flushed.
  bool writing() const;
  // True while a read is pending.
  bool reading() const;

  int fileno() const;

  // Socket options (TCP streams). Each throws std::system_error naming the
  // option if the kernel refuses it (e.g. ENOTSOCK on a PipeIOStream, or
  // a unix socket).
  // set_nodelay: TCP_NODELAY, no coalescing of small writes (TCPServer
  // turns it on for accepted connections).
  void set_nodelay(bool on);
  // set_keepalive: SO_KEEPALIVE with the first probe after `idle`, then
  // every `interval`, giving up after `count` unanswered probes: a dead
  // peer is noticed (the stream closes with an error).
  void set_keepalive(std::chrono::seconds idle, std::chrono::seconds interval,
                     int count);
  // set_user_timeout: TCP_USER_TIMEOUT, how long written data may stay
  // unacknowledged before the connection is dropped (0: the system's).
  void set_user_timeout(std::chrono::milliseconds timeout);

  // Memory accounting (monitoring and tests):
  // Received bytes buffered and not yet read.
  size_t read_buffer_size() const;
  // Bytes the stream holds allocated for reading (its buffer's capacity).
  size_t read_buffer_capacity() const;
  // Bytes queued by write() and not yet flushed to the kernel.
  size_t write_buffer_size() const;

 protected:
  // For PipeIOStream.
  struct PipeTag {};
  IOStream(PipeTag, int fd, IOLoop* loop, Options options);

 private:
  static std::regex compile(std::string_view pattern);
  Future<std::string> read_bytes_impl(size_t n, bool partial,
                                      std::optional<IOLoop::duration> timeout);
  Future<std::string> read_until_impl(std::string delimiter, size_t max_bytes,
                                      std::optional<IOLoop::duration> timeout);
  Future<std::string> read_until_regex_impl(
      std::regex regex, size_t max_bytes,
      std::optional<IOLoop::duration> timeout);
  Future<size_t> read_into_impl(std::span<char> buf, bool partial,
                                std::optional<IOLoop::duration> timeout);
  Future<void> write_impl(std::string data,
                          std::optional<IOLoop::duration> timeout,
                          std::optional<IOLoop::time_point> deadline);

  std::shared_ptr<net_internal::StreamImpl> impl_;
};

// PipeIOStream
//
// An IOStream over one end of a pipe (Tornado's PipeIOStream): `read()`
// and `write()`/`writev()` instead of recv/send, otherwise the same
// stream (reads, writes, deadlines, backpressure, close callback).
//
//   int fds[2];
//   pipe2(fds, O_CLOEXEC);
//   tornado::PipeIOStream reader(fds[0]), writer(fds[1]);
//   co_await writer.write("hello\n");
//   std::string line = co_await reader.read_until("\n");
//
// - Takes ownership of `fd` (made non-blocking here).
// - Reading from a write end throws std::logic_error; writing to a read end
//   fails (EBADF) and closes the stream.
// - A pipe cannot be half-closed: `shutdown_write()` flushes, then closes
//   the stream (the reader sees EOF).
// - Writing after the reader is gone fails with StreamClosedError whose
//   real_error() is a std::system_error (EPIPE), and no SIGPIPE reaches the
//   process (it is blocked around each write to a pipe, which costs a few
//   system calls per write; sockets use MSG_NOSIGNAL instead). A write end
//   whose reader goes away closes with that error as soon as the loop
//   reports it.
// - The socket options (`set_nodelay`, `set_keepalive`,
//   `set_user_timeout`) throw std::system_error (ENOTSOCK).
//
// A handle like IOStream (copies, and IOStream copies of it, share one
// stream). Thread-compatible: use it on its loop's thread.
class PipeIOStream : public IOStream {
 public:
  explicit PipeIOStream(int fd, IOLoop* loop = nullptr);
  PipeIOStream(int fd, IOLoop* loop, Options options);
};

}  // namespace tornado

#endif  // TORNADO_NET_IOSTREAM_H_
