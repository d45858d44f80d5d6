// -----------------------------------------------------------------------------
// logging.h
// -----------------------------------------------------------------------------
//
// A small pluggable log sink. The libraries use it for what they must not
// throw: a future's exception that nobody retrieved, an exception escaping
// a callback, a stack_context scope left out of order. By default lines go
// to stderr; `set_sink` sends them anywhere (a test captures them, a server
// forwards them to its own logger).
//
// Thread-safety: every function here is thread-safe. The sink may be
// called from any thread that logs, concurrently; it must be thread-safe
// itself if the program logs from several threads.

#ifndef TORNADO_LOGGING_LOGGING_H_
#define TORNADO_LOGGING_LOGGING_H_

#include <atomic>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

namespace tornado::logging {

enum class Level { kDebug, kInfo, kWarning, kError };

// Receives one line (no trailing newline) at a level.
using Sink = std::function<void(Level, std::string_view)>;

// set_sink()
//
// Installs `sink` for every later line; an empty sink restores the default
// (stderr). Returns the previous sink (empty if it was the default).
Sink set_sink(Sink sink);

// log()
//
// Sends one line to the current sink.
void log(Level level, std::string_view message);

inline void error(std::string_view message) { log(Level::kError, message); }
inline void warning(std::string_view message) {
  log(Level::kWarning, message);
}

// describe()
//
// A description of a stored exception: the dynamic type and `what()` for a
// `std::exception`, or "unknown exception (not derived from
// std::exception)"; "no exception" for a null pointer. If the exception
// was annotated (below), the note follows on further lines. Never throws.
std::string describe(std::exception_ptr e) noexcept;

// annotate()
//
// Attaches `note` to the exception `e` for later `describe` calls on this
// thread (the coroutine machinery attaches the async chain of the
// coroutine it escaped). The first note of an exception is kept; the
// newest 64 annotated exceptions are remembered.
void annotate(const std::exception_ptr& e, std::string note);
bool annotated(const std::exception_ptr& e);

// Tracing: the machinery's steps, named as the document names them
// ("add_callback", "handle_yield", "add_future", "inner", "run"), sent to
// a trace sink when one is installed. Off by default; when off, a trace
// point costs one relaxed atomic load.
using TraceSink = std::function<void(std::string_view event)>;

// set_trace_sink()
//
// Installs `sink` (empty: tracing off). Install it before the loop runs
// and remove it after; the sink is called on the loop's thread.
void set_trace_sink(TraceSink sink);

namespace logging_internal {
extern std::atomic<bool> g_tracing;
void trace(std::string_view event);
}  // namespace logging_internal

inline bool tracing() {
  return logging_internal::g_tracing.load(std::memory_order_relaxed);
}

// trace()
//
// Sends `event` to the trace sink, if tracing.
inline void trace(std::string_view event) {
  if (tracing()) [[unlikely]] logging_internal::trace(event);
}

// ScopedSink
//
// Installs a sink for the lifetime of the object, then restores the
// previous one. Handy in tests:
//
//   std::vector<std::string> lines;
//   tornado::logging::ScopedSink capture(
//       [&](auto, std::string_view s) { lines.emplace_back(s); });
class ScopedSink {
 public:
  explicit ScopedSink(Sink sink) : previous_(set_sink(std::move(sink))) {}
  ~ScopedSink() { set_sink(std::move(previous_)); }
  ScopedSink(const ScopedSink&) = delete;
  ScopedSink& operator=(const ScopedSink&) = delete;

 private:
  Sink previous_;
};

}  // namespace tornado::logging

#endif  // TORNADO_LOGGING_LOGGING_H_
