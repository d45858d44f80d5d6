// Guardrails for common mistakes with coroutines (issue: the public
// surface). Compile-time ones (co_await of something that is not a
// Future) are checked by tools/check_compile_errors.sh.

#include <stdexcept>
#include <string>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"

namespace tornado {
namespace {

// Flows off its end on one path: undefined behaviour in the standard; we
// fail the future instead of leaving it pending forever.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wreturn-type"
Future<int> forgets_to_return(bool return_something) {
  co_await gen::moment;
  if (return_something) co_return 1;
}
Future<std::string> forgets_at_once() {
  if (false) co_return "never";
}
#pragma GCC diagnostic pop

TEST(Guardrails, ACoroutineEndingWithoutCoReturnFailsNamingIt) {
  IOLoop loop;
  loop.make_current();
  EXPECT_EQ(loop.run_sync([] { return forgets_to_return(true); }), 1);
  try {
    loop.run_sync([] { return forgets_to_return(false); });
    FAIL() << "no exception";
  } catch (const std::logic_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("ended without co_return"), std::string::npos) << what;
    EXPECT_NE(what.find("forgets_to_return"), std::string::npos) << what;
  }
  Future<std::string> f = forgets_at_once();
  ASSERT_TRUE(f.done());
  EXPECT_THROW(f.result(), std::logic_error);
}

}  // namespace
}  // namespace tornado
