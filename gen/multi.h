// -----------------------------------------------------------------------------
// multi.h
// -----------------------------------------------------------------------------
//
// `gen::multi`: wait for several futures (Tornado 4.5's `gen.multi`, no
// fail-fast), as a vector or, for differently typed futures, a tuple.
//
// Thread-compatible: call on the loop's thread.

#ifndef TORNADO_GEN_MULTI_H_
#define TORNADO_GEN_MULTI_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/future/future.h"
#include "tornado/gen/internal/child_set.h"
#include "tornado/gen/runner.h"

namespace tornado::gen {

namespace gen_internal {
void log_multi_exception(const std::exception_ptr& e);

// multi()'s rule: the first non-null exception is the outcome; the later
// ones are logged ("Multiple exceptions in yield list"), except
// cancellations (never logged).
std::exception_ptr first_error_logging_others(const std::exception_ptr* errors,
                                              size_t n);
void log_after_timeout(const std::exception_ptr& e);
}  // namespace gen_internal

namespace gen_internal {

// What both forms of multi() share: the children (to cancel them, not
// owned: see internal/child_set.h) and the cancel hook of the result.
// Subclasses hold the outcomes and complete `result` in finish().
template <class R>
class MultiBase : public future_internal::CancelHook {
 public:
  explicit MultiBase(size_t n) : remaining_(n) {
    future_internal::Access::set_label(result_, "multi");
  }
  ~MultiBase() {
    // Children freed unfinished: nobody will complete the result; it must
    // not name a dead hook.
    future_internal::Access::clear_cancel_hook(result_);
  }
  ChildSet& children() { return children_; }
  Future<R>& result() { return result_; }
  // One child done: true when it was the last.
  bool count_down() { return --remaining_ == 0; }

  // Cancelling the multi cancels every child still running; the multi
  // completes once they are all done, cancelled (asyncio's gather).
  bool cancel_requested(future_internal::RefCount*, uintptr_t) noexcept override {
    cancel_requested_ = true;
    try {
      children_.cancel_all();
    } catch (...) {
      // A child that could not be told stays running; we still wait.
    }
    return true;
  }

 protected:
  // Completes the result from the children's errors (first in input order
  // wins, the others logged), unless the multi was cancelled.
  bool finish_with_errors(const std::exception_ptr* errors, size_t n) {
    future_internal::Access::clear_cancel_hook(result_);
    std::exception_ptr first = first_error_logging_others(errors, n);
    if (cancel_requested_) {
      if (first && !future_internal::is_cancelled_error(first)) {
        log_multi_exception(first);
      }
      future_internal::Access::complete_cancelled(result_);
      return true;
    }
    if (first) {
      result_.set_exception(std::move(first));
      return true;
    }
    return false;
  }

 private:
  size_t remaining_;
  bool cancel_requested_ = false;
  ChildSet children_;
  Future<R> result_;
};

// The done-callback of the tuple form's child I.
template <class State, size_t I, class T>
struct TupleWatch final : ChildWatch<State> {
  using ChildWatch<State>::ChildWatch;
  void operator()(Future<T> done) {
    State& st = *this->owner_;
    if (std::exception_ptr e = done.exception()) {
      st.errors[I] = e;
    } else if constexpr (std::is_copy_constructible_v<T>) {
      std::get<I>(st.values).emplace(done.result());
    } else {
      std::get<I>(st.values).emplace(done.take_result());
    }
    if (st.count_down()) st.finish();
  }
};

}  // namespace gen_internal

// multi()
//
// A future done once every child is done (no fail-fast, as Tornado 4.5):
// all results in input order, or, if any failed, the exception of the
// first failing child in input order; the others are logged ("Multiple
// exceptions in yield list: ..."). An empty list is done at once.
// Move-only results are moved out of the children (list each once).
// Cancelling the returned future cancels every child still running; it
// then completes, cancelled, once they all are done (asyncio's gather).
template <class T>
Future<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> multi(
    std::vector<Future<T>> children) {
  using R = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
  using Slot = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;
  // The state keeps outcomes, never the children themselves (see
  // internal/child_set.h).
  struct State final : gen_internal::MultiBase<R> {
    explicit State(size_t n) : gen_internal::MultiBase<R>(n), values(n), errors(n) {}
    std::vector<Slot> values;
    std::vector<std::exception_ptr> errors;
    void finish() {
      if (this->finish_with_errors(errors.data(), errors.size())) return;
      if constexpr (std::is_void_v<T>) {
        this->result().set_result();
      } else {
        std::vector<T> out;
        out.reserve(values.size());
        for (auto& v : values) out.push_back(std::move(*v));
        this->result().set_result(std::move(out));
      }
    }
  };
  struct Watch final : gen_internal::ChildWatch<State> {
    using gen_internal::ChildWatch<State>::ChildWatch;
    void operator()(Future<T> done) {
      State& st = *this->owner_;
      const size_t i = this->slot_index;
      if (std::exception_ptr e = done.exception()) {
        st.errors[i] = e;
      } else if constexpr (std::is_void_v<T>) {
        st.values[i] = true;
      } else if constexpr (std::is_copy_constructible_v<T>) {
        st.values[i].emplace(done.result());
      } else {
        st.values[i].emplace(done.take_result());
      }
      if (st.count_down()) st.finish();
    }
    size_t slot_index = 0;
  };
  auto state = std::make_shared<State>(children.size());
  Future<R> result = state->result();
  if (children.empty()) {
    state->finish();
    return result;
  }
  future_internal::Access::set_cancel_hook(result, state.get(), 0);
  for (size_t i = 0; i < children.size(); ++i) {
    // Child coroutines show under whoever awaits the multi in dumps.
    if (Runner* child = gen_internal::runner_of(children[i])) {
      child->set_parent_future(future_internal::Access::state_id(result));
    }
    const size_t slot = state->children().add(children[i]);
    Watch watch(state, slot);
    watch.slot_index = i;
    children[i].add_done_callback(std::move(watch));
  }
  return result;
}
// multi() of differently typed futures
//
// `co_await gen::multi(fa, fb)` gives a `std::tuple<A, B>` once both are
// done, with the same rules as the vector form: all children awaited, the
// first failure in argument order raised, later ones logged. Non-void
// children only.
template <class... Ts>
  requires(sizeof...(Ts) > 0 && (!std::is_void_v<Ts> && ...))
Future<std::tuple<Ts...>> multi(Future<Ts>... children) {
  using R = std::tuple<Ts...>;
  // Outcomes only, never the children (see the vector form).
  struct State final : gen_internal::MultiBase<R> {
    State() : gen_internal::MultiBase<R>(sizeof...(Ts)) {}
    std::tuple<std::optional<Ts>...> values;
    std::exception_ptr errors[sizeof...(Ts)];
    void finish() {
      if (this->finish_with_errors(errors, sizeof...(Ts))) return;
      this->result().set_result(std::apply(
          [](auto&... v) { return R(std::move(*v)...); }, values));
    }
  };
  auto state = std::make_shared<State>();
  Future<R> result = state->result();
  future_internal::Access::set_cancel_hook(result, state.get(), 0);
  auto watch = [&]<size_t I, class T>(std::integral_constant<size_t, I>,
                                     Future<T>& child) {
    if (Runner* r = gen_internal::runner_of(child)) {
      r->set_parent_future(future_internal::Access::state_id(result));
    }
    const size_t slot = state->children().add(child);
    child.add_done_callback(gen_internal::TupleWatch<State, I, T>(state, slot));
  };
  [&]<size_t... Is>(std::index_sequence<Is...>) {
    (watch(std::integral_constant<size_t, Is>{}, children), ...);
  }(std::index_sequence_for<Ts...>{});
  return result;
}

}  // namespace tornado::gen

#endif  // TORNADO_GEN_MULTI_H_
