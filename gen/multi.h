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
#include "tornado/gen/runner.h"

namespace tornado::gen {

namespace gen_internal {
void log_multi_exception(const std::exception_ptr& e);

// multi()'s rule: the first non-null exception is the outcome; the later
// ones are logged ("Multiple exceptions in yield list").
std::exception_ptr first_error_logging_others(const std::exception_ptr* errors,
                                              size_t n);
void log_after_timeout(const std::exception_ptr& e);
}  // namespace gen_internal

// multi()
//
// A future done once every child is done (no fail-fast, as Tornado 4.5):
// all results in input order, or, if any failed, the exception of the
// first failing child in input order; the others are logged ("Multiple
// exceptions in yield list: ..."). An empty list is done at once.
// Move-only results are moved out of the children (list each once).
template <class T>
Future<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> multi(
    std::vector<Future<T>> children) {
  using R = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
  using Slot = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;
  // The state keeps outcomes, never the children themselves: a child's
  // done-callback owns the state, so holding the children here would be a
  // cycle that leaks when a child never completes.
  struct State {
    size_t remaining;
    std::vector<Slot> values;
    std::vector<std::exception_ptr> errors;
    Future<R> result;
    void finish() {
      std::exception_ptr first =
          gen_internal::first_error_logging_others(errors.data(), errors.size());
      if (first) {
        result.set_exception(first);
      } else if constexpr (std::is_void_v<T>) {
        result.set_result();
      } else {
        std::vector<T> out;
        out.reserve(values.size());
        for (auto& v : values) out.push_back(std::move(*v));
        result.set_result(std::move(out));
      }
    }
  };
  auto state = std::make_shared<State>();
  state->remaining = children.size();
  state->values.resize(children.size());
  state->errors.resize(children.size());
  Future<R> result = state->result;
  future_internal::Access::set_label(result, "multi");
  if (children.empty()) {
    state->finish();
    return result;
  }
  for (size_t i = 0; i < children.size(); ++i) {
    // Child coroutines show under whoever awaits the multi in dumps.
    if (Runner* child = gen_internal::runner_of(children[i])) {
      child->set_parent_future(future_internal::Access::state_id(result));
    }
    children[i].add_done_callback([state, i](Future<T> done) {
      if (std::exception_ptr e = done.exception()) {
        state->errors[i] = e;
      } else if constexpr (std::is_void_v<T>) {
        state->values[i] = true;
      } else if constexpr (std::is_copy_constructible_v<T>) {
        state->values[i].emplace(done.result());
      } else {
        state->values[i].emplace(done.take_result());
      }
      if (--state->remaining == 0) state->finish();
    });
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
  // Outcomes only, never the children (see the vector form).
  struct State {
    std::tuple<std::optional<Ts>...> values;
    std::exception_ptr errors[sizeof...(Ts)];
    size_t remaining = sizeof...(Ts);
    Future<std::tuple<Ts...>> result;
    void finish() {
      std::exception_ptr first =
          gen_internal::first_error_logging_others(errors, sizeof...(Ts));
      if (first) {
        result.set_exception(first);
        return;
      }
      result.set_result(std::apply(
          [](auto&... v) { return std::tuple<Ts...>(std::move(*v)...); }, values));
    }
  };
  auto state = std::make_shared<State>();
  Future<std::tuple<Ts...>> result = state->result;
  future_internal::Access::set_label(result, "multi");
  auto watch = [&]<size_t I, class T>(std::integral_constant<size_t, I>,
                                     Future<T>& child) {
    if (Runner* r = gen_internal::runner_of(child)) {
      r->set_parent_future(future_internal::Access::state_id(result));
    }
    child.add_done_callback([state](Future<T> done) {
      if (std::exception_ptr e = done.exception()) {
        state->errors[I] = e;
      } else if constexpr (std::is_copy_constructible_v<T>) {
        std::get<I>(state->values).emplace(done.result());
      } else {
        std::get<I>(state->values).emplace(done.take_result());
      }
      if (--state->remaining == 0) state->finish();
    });
  };
  [&]<size_t... Is>(std::index_sequence<Is...>) {
    (watch(std::integral_constant<size_t, Is>{}, children), ...);
  }(std::index_sequence_for<Ts...>{});
  return result;
}

}  // namespace tornado::gen

#endif  // TORNADO_GEN_MULTI_H_
