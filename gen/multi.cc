#include "tornado/gen/multi.h"

#include <exception>

#include "tornado/gen/with_timeout.h"
#include "tornado/logging/logging.h"

namespace tornado::gen {
namespace gen_internal {

void log_multi_exception(const std::exception_ptr& e) {
  logging::error("Multiple exceptions in yield list: " + logging::describe(e));
}

std::exception_ptr first_error_logging_others(const std::exception_ptr* errors,
                                              size_t n) {
  std::exception_ptr first;
  for (size_t i = 0; i < n; ++i) {
    if (!errors[i]) continue;
    if (!first) {
      first = errors[i];
    } else if (!future_internal::is_cancelled_error(errors[i])) {
      // A cancellation is an outcome, not an error worth a log line.
      log_multi_exception(errors[i]);
    }
  }
  return first;
}

void log_after_timeout(const std::exception_ptr& e) {
  logging::error("Exception in Future after timeout: " + logging::describe(e));
}

}  // namespace gen_internal

}  // namespace tornado::gen
