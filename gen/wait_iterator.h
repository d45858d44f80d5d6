// -----------------------------------------------------------------------------
// wait_iterator.h
// -----------------------------------------------------------------------------
//
// `gen::WaitIterator`: futures in the order they finish (Tornado's
// `gen.WaitIterator`).
//
// Thread-compatible: use on the loop's thread.

#ifndef TORNADO_GEN_WAIT_ITERATOR_H_
#define TORNADO_GEN_WAIT_ITERATOR_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tornado/future/future.h"

namespace tornado::gen {

// WaitIterator
//
// Futures in the order they finish (Tornado's `gen.WaitIterator`):
//
//   gen::WaitIterator<int> it({a, b, c});
//   while (!it.done()) {
//     try {
//       int r = co_await it.next();
//       use(r, it.current_index());
//     } catch (const std::exception& e) { ... }
//   }
//
// Inputs already done come first, in input order. Thread-compatible.
template <class T>
class WaitIterator {
 public:
  explicit WaitIterator(std::vector<Future<T>> futures)
      : state_(std::make_shared<State>()) {
    state_->unfinished = futures.size();
    // The state holds futures only once they are done (done futures keep
    // no callbacks): no cycle through a future that never completes.
    for (size_t i = 0; i < futures.size(); ++i) {
      futures[i].add_done_callback(
          [state = state_, i](Future<T> done) { state->on_done(i, std::move(done)); });
    }
  }

  // True when every input has been returned by next().
  bool done() const {
    if (state_->finished.empty() && state_->unfinished == 0) {
      state_->current_index = -1;
      state_->current_future.reset();
      return true;
    }
    return false;
  }

  // A future completed with the next input to finish. Throws
  // std::logic_error when done().
  Future<T> next() {
    if (done()) {
      throw std::logic_error("WaitIterator::next: no futures left");
    }
    state_->running = Future<T>();
    if (!state_->finished.empty()) {
      auto [i, f] = std::move(state_->finished.front());
      state_->finished.pop_front();
      state_->deliver(i, std::move(f));
    }
    return *state_->running;
  }

  // The position of the input the last next() delivered (-1 if none).
  int current_index() const { return state_->current_index; }
  // That input (empty optional if none).
  const std::optional<Future<T>>& current_future() const {
    return state_->current_future;
  }

 private:
  struct State {
    size_t unfinished = 0;
    std::deque<std::pair<size_t, Future<T>>> finished;
    std::optional<Future<T>> running;
    int current_index = -1;
    std::optional<Future<T>> current_future;

    void on_done(size_t i, Future<T> f) {
      --unfinished;
      if (running && !running->done()) {
        deliver(i, std::move(f));
      } else {
        finished.emplace_back(i, std::move(f));
      }
    }
    void deliver(size_t i, Future<T> f) {
      current_index = static_cast<int>(i);
      current_future = f;
      chain_future(std::move(f), *running);
    }
  };
  std::shared_ptr<State> state_;
};

}  // namespace tornado::gen

#endif  // TORNADO_GEN_WAIT_ITERATOR_H_
