#include "tornado/future/future.h"

#include <string>
#include <typeinfo>

#include "tornado/logging/logging.h"

namespace tornado::future_internal {

void throw_invalid_state(const char* what) { throw InvalidStateError(what); }

void report_never_retrieved(const std::exception_ptr& e) noexcept {
  logging::error("Future exception was never retrieved: " +
                 logging::describe(e));
}

bool is_cancelled_error(const std::exception_ptr& e) noexcept {
  if (!e) return false;
#if defined(__GLIBCXX__)
  // CancelledError is final: its exact type says it, without a rethrow.
  const std::type_info* t = e.__cxa_exception_type();
  return t != nullptr && *t == typeid(CancelledError);
#else
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return true;
  } catch (...) {
    return false;
  }
#endif
}

std::exception_ptr make_cancelled_error() {
  return std::make_exception_ptr(CancelledError());
}

void report_callback_exception(const std::exception_ptr& e) noexcept {
  logging::error("Exception in done-callback of a Future: " +
                 logging::describe(e));
}

// ---- Reference counting (see internal/refcount.h) ---------------------------

constinit OwnerQueue g_shared_owner;
constinit thread_local OwnerQueue* tls_owner = nullptr;
constinit thread_local OwnerQueue* tls_new_owner = &g_shared_owner;
constinit thread_local OwnerQueue* tls_drain = &g_shared_owner;

namespace {

// Every queue ever made, never freed (see refcount.h).
constinit std::atomic<OwnerQueue*> g_all_queues{nullptr};

// This thread's thread_local destructors have run (or are running): it
// biases nothing any more.
constinit thread_local bool tls_exited = false;

// What `word` must gain to merge the queued state `s`: the owner's count,
// kMerged (unless set already) and kQueued cleared. Called by the owner, or
// under an orphaned queue's mutex.
int64_t merge_delta(RefCount* s) noexcept {
  const uintptr_t bits = s->owner_bits.load(std::memory_order_relaxed);
  if (bits & RefCount::kOwnerMerged) return -RefCount::kQueued;
  s->owner_bits.store(bits | RefCount::kOwnerMerged, std::memory_order_relaxed);
  return (int64_t{s->biased} << 2) + RefCount::kMerged - RefCount::kQueued;
}

// Merges the states of `items` on the owner thread, freeing those whose
// total is zero. No lock is held: freeing may release other futures.
void merge_items(std::vector<OwnerQueue::Item>& items) noexcept {
  for (const OwnerQueue::Item& item : items) {
    const int64_t delta = merge_delta(item.state);
    if (item.state->word.fetch_add(delta, std::memory_order_acq_rel) + delta ==
        RefCount::kMerged) {
      item.free(item.state);
    }
  }
  items.clear();
}

// At thread exit: drains the queue one last time and orphans it, so that
// states released later are merged by whoever releases them. Namespace
// scope (see the developers' guide on thread_local destructors); assigned
// when the thread first runs a loop, which registers the destructor.
struct Orphaner {
  OwnerQueue* queue = nullptr;
  ~Orphaner() {
    if (queue == nullptr) return;
    std::vector<OwnerQueue::Item> items;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(queue->mu);
        if (queue->items.empty()) {
          // The owner's last write to any `biased` came before this.
          queue->orphaned = true;
          queue->nonempty.store(false, std::memory_order_relaxed);
          break;
        }
        items.swap(queue->items);
        queue->nonempty.store(false, std::memory_order_relaxed);
      }
      merge_items(items);
    }
    // From here on this thread is a non-owner of its old states, and what
    // it creates is shared.
    tls_owner = nullptr;
    tls_new_owner = &g_shared_owner;
    tls_drain = &g_shared_owner;
    tls_exited = true;
  }
};
thread_local Orphaner tls_orphaner;

}  // namespace

bool merge_as_owner(RefCount* s) noexcept {
  // `biased` reached zero but others counted or queued: from now on `word`
  // alone counts. Free if nothing else is counted nor queued (a non-owner
  // may have taken its count to zero since the caller's load).
  s->owner_bits.store(
      s->owner_bits.load(std::memory_order_relaxed) | RefCount::kOwnerMerged,
      std::memory_order_relaxed);
  return s->word.fetch_or(RefCount::kMerged, std::memory_order_acq_rel) == 0;
}

bool release_shared(RefCount* s, FreeFn free) noexcept {
  int64_t old = s->word.load(std::memory_order_acquire);
  if (old & RefCount::kMerged) {
    // Merged stays merged: the count is the total. If it is ours alone, no
    // other handle exists to copy from: free without a read-modify-write.
    if (old == (RefCount::kOne | RefCount::kMerged)) return true;
    old = s->word.fetch_sub(RefCount::kOne, std::memory_order_acq_rel);
    return old - RefCount::kOne == RefCount::kMerged;
  }
  // Not merged: taking the count below zero must set kQueued in the same
  // step, or the owner could see zero and free the state before we queue.
  int64_t next;
  do {
    next = old - RefCount::kOne;
    if (!(old & (RefCount::kMerged | RefCount::kQueued)) && (next >> 2) < 0) {
      next |= RefCount::kQueued;
    }
  } while (!s->word.compare_exchange_weak(old, next, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
  if (old & RefCount::kMerged) return next == RefCount::kMerged;
  if (!(next & RefCount::kQueued) || (old & RefCount::kQueued)) return false;
  // We queued it: it stays alive until merged.
  OwnerQueue* q = s->owner();
  int64_t merged_word;
  {
    std::lock_guard<std::mutex> lock(q->mu);
    if (!q->orphaned) {
      q->items.push_back({s, free});
      q->nonempty.store(true, std::memory_order_release);
      return false;
    }
    // The owner has exited: merge it here. The mutex orders this read of
    // `biased` after the owner's last write.
    const int64_t delta = merge_delta(s);
    merged_word = s->word.fetch_add(delta, std::memory_order_acq_rel) + delta;
  }
  // Freed outside the lock: the state's destructor may release futures of
  // the same (orphaned) owner.
  return merged_word == RefCount::kMerged;
}

void drain_queue(OwnerQueue* q) noexcept {
  std::vector<OwnerQueue::Item> items;
  {
    std::lock_guard<std::mutex> lock(q->mu);
    items.swap(q->items);
    q->nonempty.store(false, std::memory_order_relaxed);
  }
  merge_items(items);
}

OwnerQueue* enter_loop_thread() {
  OwnerQueue* previous = tls_new_owner;
  if (tls_exited) return previous;
  if (tls_owner == nullptr) {
    auto* q = new OwnerQueue;
    q->next_all = g_all_queues.load(std::memory_order_relaxed);
    while (!g_all_queues.compare_exchange_weak(
        q->next_all, q, std::memory_order_release, std::memory_order_relaxed)) {
    }
    tls_orphaner.queue = q;  // registers the thread-exit drain
    tls_owner = q;
    tls_drain = q;
  }
  tls_new_owner = tls_owner;
  return previous;
}

void leave_loop_thread(OwnerQueue* previous) noexcept {
  tls_new_owner = tls_exited ? &g_shared_owner : previous;
}

}  // namespace tornado::future_internal
