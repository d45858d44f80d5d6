// -----------------------------------------------------------------------------
// queues.h
// -----------------------------------------------------------------------------
//
// Queues to coordinate producer and consumer coroutines (Tornado 4.5's
// `tornado.queues`): `Queue<T>` (FIFO), `PriorityQueue<T, Compare>`
// (least first) and `LifoQueue<T>` (last in, first out), with `join()` /
// `task_done()` to wait until every item put has been processed.
//
//   tornado::queues::Queue<int> q(2);   // maxsize 2; 0 (default): unbounded
//
//   Future<void> consumer() {
//     for (;;) {
//       int item = co_await q.get();
//       co_await work_on(item);
//       q.task_done();
//     }
//   }
//   Future<void> producer() {
//     for (int i = 0; i < 5; ++i) co_await q.put(i);   // waits while full
//     co_await q.join();                               // all processed
//   }
//
// Rules (as in //locks, see locks/locks.h):
//   - Getters and putters are served first come, first served. put() and
//     put_nowait() hand an item straight to the first waiting getter,
//     completing its future before they return; get() and get_nowait()
//     take the first waiting putter's item into the queue and complete its
//     future. A put or get that can proceed at once returns a done future.
//     Each call returns its own future.
//   - Timeouts: put, get and join take an optional timeout, a duration
//     (any std::chrono::duration, floating-point ones included) or a
//     steady_clock time point; when it passes, the wait fails with
//     tornado::TimeoutError, and a putter's item is not put. A zero or past
//     timeout fails on the next loop iteration unless the call could
//     proceed at once; a huge one means never.
//   - Cancellation (`Future::cancel()`) withdraws a getter or putter at
//     once (a putter's item is not put), so the next put/get goes to the
//     next waiter; an item put while the only getter was being cancelled
//     stays in the queue.
//   - Nothing is lost: an item granted to a getter whose coroutine is
//     cancelled before it resumed goes back, to the next getter or to the
//     head of the queue (the next item out: the front of a Queue, the top
//     of a LifoQueue, its place by priority in a PriorityQueue), still
//     counted by join(); the queue may then hold maxsize + 1 items until
//     the next get. A put granted (its item queued) before its coroutine
//     was cancelled is a put done: the item stays queued, and the
//     coroutine gets CancelledError.
//   - Destroying a queue leaves pending gets, puts and joins pending
//     forever (their coroutines' frames go when the loop closes); futures
//     may outlive the queue.
//
// `T` need only be move-constructible (move-only types work; `get()`'s
// future hands the item out with `take_result()` or `co_await`).
//
// Cost: a get or put that must wait allocates its future and nothing else
// (the waiter node lives in a slab inside the queue; a putter's node holds
// its item); one that proceeds at once allocates its (done) future.
//
// Thread-safety: thread-compatible, bound to one IOLoop: a queue and its
// futures are used on the thread of the loop its coroutines run on. From
// another thread, go through `IOLoop::add_callback`.

#ifndef TORNADO_QUEUES_QUEUES_H_
#define TORNADO_QUEUES_QUEUES_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <utility>

#include "tornado/future/future.h"
#include "tornado/locks/internal/waiters.h"
#include "tornado/queues/internal/queue_core.h"

namespace tornado::queues {

namespace queues_internal {

// BasicQueue
//
// The interface the three queues share (see the file comment); `Store`
// decides the order.
template <class T, class Store>
class BasicQueue {
  using Core = QueueCore<T, Store>;
  using Deadline = locks_internal::Deadline;

 public:
  using value_type = T;

  ~BasicQueue() { core_->detach(); }
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  // put()
  //
  // A future done once `item` is in the queue (or handed to a getter): at
  // once if there is room, else when a get makes room. Fails with
  // TimeoutError (the item not put) once the timeout passes.
  Future<void> put(T item) { return core_->put(std::move(item), locks_internal::kNever); }
  template <class Rep, class Period>
  Future<void> put(T item, std::chrono::duration<Rep, Period> timeout) {
    return core_->put(std::move(item), locks_internal::to_deadline(timeout));
  }
  template <class Dur>
  Future<void> put(T item, std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return core_->put(std::move(item), locks_internal::to_deadline(deadline));
  }

  // put_nowait()
  //
  // Puts `item` (or hands it to the first getter) now; throws QueueFull
  // if the queue is full.
  void put_nowait(T item) { core_->put_nowait(std::move(item)); }

  // get()
  //
  // A future with the next item: at once if there is one, else once one
  // is put. Fails with TimeoutError once the timeout passes.
  Future<T> get() { return core_->get(locks_internal::kNever); }
  template <class Rep, class Period>
  Future<T> get(std::chrono::duration<Rep, Period> timeout) {
    return core_->get(locks_internal::to_deadline(timeout));
  }
  template <class Dur>
  Future<T> get(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return core_->get(locks_internal::to_deadline(deadline));
  }

  // get_nowait()
  //
  // The next item, now; throws QueueEmpty if there is none.
  T get_nowait() { return core_->get_nowait(); }

  // task_done()
  //
  // Tells the queue that an item taken out has been processed. join()
  // completes once every item put has been matched by a task_done().
  // Throws std::logic_error if called more times than items were put.
  void task_done() { core_->task_done(); }

  // join()
  //
  // A future done once every item put so far has been processed
  // (task_done); fails with TimeoutError once the timeout passes.
  Future<void> join() { return core_->join(locks_internal::kNever); }
  template <class Rep, class Period>
  Future<void> join(std::chrono::duration<Rep, Period> timeout) {
    return core_->join(locks_internal::to_deadline(timeout));
  }
  template <class Dur>
  Future<void> join(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return core_->join(locks_internal::to_deadline(deadline));
  }

  // The number of items in the queue; none; at maxsize (never when
  // unbounded); the bound (0: none).
  size_t qsize() const { return core_->qsize(); }
  bool empty() const { return core_->qsize() == 0; }
  bool full() const { return core_->full(); }
  int maxsize() const { return core_->maxsize(); }

  // Pending getters and putters (for tests and diagnostics; Tornado's
  // repr shows them).
  size_t waiting_getters() const { return core_->getters(); }
  size_t waiting_putters() const { return core_->putters(); }

 protected:
  explicit BasicQueue(int maxsize, Store store = Store())
      : core_(new Core(checked_maxsize(maxsize), std::move(store))) {}

 private:
  static int checked_maxsize(int maxsize) {
    if (maxsize < 0) throw std::invalid_argument("Queue: maxsize must be >= 0");
    return maxsize;
  }
  Core* core_;
};

}  // namespace queues_internal

// Queue
//
// First in, first out. See the file comment.
template <class T>
class Queue : public queues_internal::BasicQueue<T, queues_internal::FifoStore<T>> {
 public:
  // 0: unbounded. Throws std::invalid_argument if negative.
  explicit Queue(int maxsize = 0)
      : queues_internal::BasicQueue<T, queues_internal::FifoStore<T>>(maxsize) {}
};

// PriorityQueue
//
// Least first under `Compare` (std::less: smallest first, Tornado's
// `PriorityQueue` on a heap); items that neither precedes come out in
// any order. Entries are typically pairs like (priority, data). See the
// file comment.
template <class T, class Compare = std::less<T>>
class PriorityQueue
    : public queues_internal::BasicQueue<T, queues_internal::PriorityStore<T, Compare>> {
 public:
  explicit PriorityQueue(int maxsize = 0, Compare comp = Compare())
      : queues_internal::BasicQueue<T, queues_internal::PriorityStore<T, Compare>>(
            maxsize, queues_internal::PriorityStore<T, Compare>(std::move(comp))) {}
};

// LifoQueue
//
// Last in, first out. See the file comment.
template <class T>
class LifoQueue : public queues_internal::BasicQueue<T, queues_internal::LifoStore<T>> {
 public:
  explicit LifoQueue(int maxsize = 0)
      : queues_internal::BasicQueue<T, queues_internal::LifoStore<T>>(maxsize) {}
};

}  // namespace tornado::queues

#endif  // TORNADO_QUEUES_QUEUES_H_
