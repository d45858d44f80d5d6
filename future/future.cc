#include "tornado/future/future.h"

#include <string>

#include "tornado/logging/logging.h"

namespace tornado::future_internal {

void throw_invalid_state(const char* what) { throw InvalidStateError(what); }

void report_never_retrieved(const std::exception_ptr& e) noexcept {
  logging::error("Future exception was never retrieved: " +
                 logging::describe(e));
}

void report_callback_exception(const std::exception_ptr& e) noexcept {
  logging::error("Exception in done-callback of a Future: " +
                 logging::describe(e));
}

}  // namespace tornado::future_internal
