// ioloop internals: what the loop stores for every callback, timeout and
// handler: the callable, plus the stack contexts captured when it was
// scheduled (null when none were active, the common case: no allocation,
// and nothing to re-enter when it runs).

#ifndef TORNADO_IOLOOP_INTERNAL_TASK_H_
#define TORNADO_IOLOOP_INTERNAL_TASK_H_

#include <memory>
#include <utility>

#include "tornado/ioloop/internal/inline_function.h"
#include "tornado/stack_context/stack_context.h"

namespace tornado::ioloop_internal {

using ContextRef = std::shared_ptr<const stack_context_internal::Node>;

template <class Sig>
struct BasicTask {
  InlineFunction<Sig> fn;
  ContextRef contexts;

  // Runs `fn` inside the captured contexts. The loop runs with no context
  // active, so a task without contexts runs as it is.
  template <class... Args>
  void operator()(Args&&... args) {
    if (!contexts) {
      fn(std::forward<Args>(args)...);
      return;
    }
    stack_context_internal::run_in(
        contexts.get(), [&] { fn(std::forward<Args>(args)...); });
  }
};

using Task = BasicTask<void()>;

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_TASK_H_
