#include "tornado/logging/logging.h"

#include <cstdio>
#include <cxxabi.h>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <typeinfo>
#include <vector>

namespace tornado::logging {
namespace {

// std::mutex, not absl::Mutex: Debian's Abseil is not TSan-instrumented.
std::mutex& sink_mutex() {
  static std::mutex* m = new std::mutex;
  return *m;
}

// Shared so that a line being written keeps its sink alive while another
// thread swaps it out.
std::shared_ptr<const Sink>& current_sink() {
  static auto* s = new std::shared_ptr<const Sink>;
  return *s;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarning:
      return "WARNING";
    case Level::kError:
      return "ERROR";
  }
  return "?";
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

}  // namespace

namespace logging_internal {
std::atomic<bool> g_tracing{false};

namespace {
// Separate from the log mutex: a trace sink may log.
std::mutex& trace_mutex() {
  static std::mutex* m = new std::mutex;
  return *m;
}
TraceSink& trace_sink() {
  static auto* s = new TraceSink;
  return *s;
}
}  // namespace

void trace(std::string_view event) {
  std::lock_guard<std::mutex> lock(trace_mutex());
  if (trace_sink()) trace_sink()(event);
}
}  // namespace logging_internal

void set_trace_sink(TraceSink sink) {
  std::lock_guard<std::mutex> lock(logging_internal::trace_mutex());
  logging_internal::g_tracing.store(static_cast<bool>(sink),
                                    std::memory_order_relaxed);
  logging_internal::trace_sink() = std::move(sink);
}

Sink set_sink(Sink sink) {
  std::shared_ptr<const Sink> next;
  if (sink) next = std::make_shared<const Sink>(std::move(sink));
  std::lock_guard<std::mutex> lock(sink_mutex());
  std::shared_ptr<const Sink> previous = std::move(current_sink());
  current_sink() = std::move(next);
  return previous ? *previous : Sink();
}

void log(Level level, std::string_view message) {
  std::shared_ptr<const Sink> sink;
  {
    std::lock_guard<std::mutex> lock(sink_mutex());
    sink = current_sink();
  }
  if (sink) {
    (*sink)(level, message);
    return;
  }
  std::fprintf(stderr, "[tornado %s] %.*s\n", level_name(level),
               static_cast<int>(message.size()), message.data());
}

namespace {
struct Note {
  std::exception_ptr e;
  std::string note;
};
// Namespace scope (see the developers' guide on thread_local destructors).
thread_local std::vector<Note> tls_notes;
constexpr size_t kMaxNotes = 64;

const std::string* find_note(const std::exception_ptr& e) {
  for (const Note& n : tls_notes) {
    if (n.e == e) return &n.note;
  }
  return nullptr;
}

std::string describe_plain(const std::exception_ptr& e) noexcept;
}  // namespace

void annotate(const std::exception_ptr& e, std::string note) {
  if (!e || find_note(e) != nullptr) return;
  if (tls_notes.size() == kMaxNotes) tls_notes.erase(tls_notes.begin());
  tls_notes.push_back({e, std::move(note)});
}

bool annotated(const std::exception_ptr& e) { return find_note(e) != nullptr; }

std::string describe(std::exception_ptr e) noexcept {
  std::string s = describe_plain(e);
  try {
    if (const std::string* note = find_note(e)) s += "\n" + *note;
  } catch (...) {
  }
  return s;
}

namespace {
std::string describe_plain(const std::exception_ptr& e) noexcept {
  if (!e) return "no exception";
  try {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return demangle(typeid(ex).name()) + ": " + ex.what();
    } catch (...) {
      std::type_info* t = abi::__cxa_current_exception_type();
      return "unknown exception (not derived from std::exception)" +
             (t ? ": " + demangle(t->name()) : std::string());
    }
  } catch (...) {
    return "exception (could not be described)";
  }
}
}  // namespace

}  // namespace tornado::logging
