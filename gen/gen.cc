#include "gen/gen.h"

namespace tornado::gen {

bool Runner::check_contexts() {
  const stack_context_internal::Node* now = stack_context_internal::current_head();
  if (now == resume_contexts_) return true;
  // Suspending inside scopes entered since the resumption: they are left
  // behind (reported here, not again when they end), and the caller's
  // contexts come back.
  stack_context_internal::abandon(now, resume_contexts_);
  stack_context_internal::set_head(resume_contexts_);
  inconsistent_ = true;
  return false;
}

void throw_inconsistent() {
  throw StackContextInconsistentError(
      "stack_context inconsistency (probably caused by a co_await inside a "
      "StackContext, ExceptionStackContext or Local<T>::Scope block)");
}

namespace gen_internal {

void log_multi_exception(const std::exception_ptr& e) {
  logging::error("Multiple exceptions in yield list: " + logging::describe(e));
}

void log_after_timeout(const std::exception_ptr& e) {
  logging::error("Exception in Future after timeout: " + logging::describe(e));
}

}  // namespace gen_internal
}  // namespace tornado::gen
