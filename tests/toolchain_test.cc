// Checks the toolchain the project stands on: C++20 coroutines compile and
// run, and GoogleTest and Abseil (header-only and compiled parts) link.

#include <coroutine>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace {

// The smallest coroutine type: resumable by hand, yields ints.
struct Counter {
  struct promise_type {
    int value = 0;
    Counter get_return_object() {
      return Counter{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    std::suspend_always yield_value(int v) {
      value = v;
      return {};
    }
    void return_void() {}
    void unhandled_exception() { throw; }
  };
  std::coroutine_handle<promise_type> handle;
  ~Counter() { handle.destroy(); }
};

Counter CountTo(int n) {
  for (int i = 1; i <= n; ++i) co_yield i;
}

TEST(ToolchainTest, CoroutinesRun) {
  Counter c = CountTo(3);
  int sum = 0;
  for (c.handle.resume(); !c.handle.done(); c.handle.resume()) {
    sum += c.handle.promise().value;
  }
  EXPECT_EQ(sum, 6);
}

TEST(ToolchainTest, AbseilLinks) {
  absl::AnyInvocable<std::string(int) &&> f = [](int x) {
    return absl::StrFormat("x=%d", x);
  };
  EXPECT_EQ(std::move(f)(42), "x=42");
}

}  // namespace
