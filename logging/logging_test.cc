#include "tornado/logging/logging.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tornado::logging {
namespace {

TEST(LoggingTest, ScopedSinkCapturesAndRestores) {
  std::vector<std::string> outer, inner;
  ScopedSink a([&](Level, std::string_view s) { outer.emplace_back(s); });
  {
    ScopedSink b([&](Level, std::string_view s) { inner.emplace_back(s); });
    error("one");
  }
  warning("two");
  EXPECT_EQ(inner, std::vector<std::string>{"one"});
  EXPECT_EQ(outer, std::vector<std::string>{"two"});
}

TEST(LoggingTest, DescribeNamesTypeAndMessage) {
  EXPECT_EQ(describe(nullptr), "no exception");
  EXPECT_EQ(describe(std::make_exception_ptr(std::runtime_error("boom"))),
            "std::runtime_error: boom");
  EXPECT_EQ(describe(std::make_exception_ptr(42)),
            "unknown exception (not derived from std::exception): int");
}

}  // namespace
}  // namespace tornado::logging
