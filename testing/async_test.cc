#include "tornado/testing/async_test.h"

#include "tornado/testing/run_loop.h"

#include <cstdlib>
#include <sstream>
#include <utility>

namespace tornado::testing {

void AsyncTest::run_once() { testing::run_once(*loop_); }

// Shared by the sink (any thread), the fixture and its ExpectLogs.
struct AsyncTest::Capture {
  struct Expectation {
    size_t id;
    std::string needle;
    int count = 0;
  };

  mutable std::mutex mu;
  std::vector<LogLine> lines;             // guarded by mu
  std::vector<std::string> unexpected;    // ERROR lines nobody expected
  std::vector<Expectation> expectations;  // active ExpectLogs
  size_t next_id = 0;
  bool closing = false;  // teardown's close(): lines are not held against the test

  void add(logging::Level level, std::string_view text) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back({level, std::string(text)});
    bool expected = false;
    for (auto& e : expectations) {
      if (text.find(e.needle) != std::string_view::npos) {
        ++e.count;
        expected = true;
      }
    }
    if (!expected && !closing && level == logging::Level::kError) {
      unexpected.emplace_back(text);
    }
  }
};

AsyncTest::AsyncTest()
    : capture_(std::make_shared<Capture>()),
      previous_current_(IOLoop::current_or_null()) {
  sink_ = std::make_unique<logging::ScopedSink>(
      [capture = capture_](logging::Level level, std::string_view text) {
        capture->add(level, text);
      });
  IOLoop::Options options;
  options.make_current = false;
  loop_ = std::make_unique<IOLoop>(options);
  loop_->make_current();
}

AsyncTest::~AsyncTest() {
  if (loop_) {
    loop_.reset();  // TearDown did not run (a fixture failure): close now
  }
  if (previous_current_ != nullptr) {
    previous_current_->make_current();
  } else {
    IOLoop::clear_current();
  }
}

void AsyncTest::TearDown() {
  // Let callbacks already queued (a handler's last write, a close callback)
  // finish: a few loop iterations, bounded.
  if (!loop_->closed()) {
    try {
      loop_->run_sync([] { return gen::sleep(std::chrono::milliseconds(1)); },
                      std::chrono::seconds(1));
    } catch (...) {
    }
  }
  {
    std::lock_guard<std::mutex> lock(capture_->mu);
    capture_->closing = true;
  }
  loop_.reset();
  std::vector<std::string> unexpected;
  {
    std::lock_guard<std::mutex> lock(capture_->mu);
    unexpected = std::move(capture_->unexpected);
  }
  for (const auto& line : unexpected) {
    ADD_FAILURE() << "unexpected ERROR log line (wrap the code in "
                     "tornado::testing::ExpectLog if it is expected):\n  "
                  << line;
  }
}

std::vector<LogLine> AsyncTest::log_lines() const {
  std::lock_guard<std::mutex> lock(capture_->mu);
  return capture_->lines;
}

bool AsyncTest::logged(std::string_view needle) const {
  std::lock_guard<std::mutex> lock(capture_->mu);
  for (const auto& l : capture_->lines) {
    if (l.text.find(needle) != std::string::npos) return true;
  }
  return false;
}

AsyncTest::duration AsyncTest::default_timeout() {
  if (const char* ms = std::getenv("TORNADO_ASYNC_TEST_TIMEOUT_MS")) {
    char* end = nullptr;
    long v = std::strtol(ms, &end, 10);
    if (end != ms && v > 0) return std::chrono::milliseconds(v);
  }
  return std::chrono::seconds(5);
}

void AsyncTest::report_timeout(duration timeout) {
  std::ostringstream dump;
  const size_t n = gen::dump_coroutines(dump, *loop_);
  ADD_FAILURE() << "the test body did not finish within "
                << std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()
                << " ms; " << n << " coroutine(s) still suspended:\n"
                << dump.str();
}

ExpectLog::ExpectLog(AsyncTest& test, std::string needle, int min_count)
    : capture_(test.capture_), min_count_(min_count), needle_(std::move(needle)) {
  std::lock_guard<std::mutex> lock(capture_->mu);
  id_ = capture_->next_id++;
  capture_->expectations.push_back({id_, needle_, 0});
}

int ExpectLog::count() const {
  std::lock_guard<std::mutex> lock(capture_->mu);
  for (const auto& e : capture_->expectations) {
    if (e.id == id_) return e.count;
  }
  return 0;
}

ExpectLog::~ExpectLog() {
  int count = 0;
  {
    std::lock_guard<std::mutex> lock(capture_->mu);
    auto& ex = capture_->expectations;
    for (auto it = ex.begin(); it != ex.end(); ++it) {
      if (it->id == id_) {
        count = it->count;
        ex.erase(it);
        break;
      }
    }
  }
  if (count < min_count_) {
    ADD_FAILURE() << "expected at least " << min_count_
                  << " log line(s) containing \"" << needle_ << "\", got " << count;
  }
}

}  // namespace tornado::testing
