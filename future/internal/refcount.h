// -----------------------------------------------------------------------------
// future/internal/refcount.h
// -----------------------------------------------------------------------------
//
// The reference count of a Future's shared state: biased reference counting
// (Choi, Shull, Torrellas, "Biased Reference Counting: Minimizing Atomic
// Operations in Garbage Collection", PACT 2018). Not for users: //future
// and the hooks //ioloop calls.
//
// A state created on a thread while an IOLoop runs there is *biased* to
// that thread (its owner): the owner counts its copies and releases in
// `biased`, a plain integer, with no atomic read-modify-write. Every other
// thread counts in `word`, atomically; that count may go negative (a thread
// released a handle the owner had counted). A state created anywhere else
// (a worker thread, before a loop starts) is *shared* from birth: its owner
// is a sentinel that is no thread's, and all its counting is atomic.
//
//   word = (shared_count << 2) | kMerged | kQueued
//
// The number of live handles is biased + shared_count. The owner, taking
// `biased` to zero, frees the state if `word` is 0 (then no handle is left
// anywhere, so a load suffices), else *merges*: sets kMerged, after which
// `word` alone counts (the owner too counts atomically there, from then on)
// and whoever takes it to zero frees. A non-owner taking the shared count
// below zero sets kQueued in the same compare-and-swap (set later, the
// owner could meanwhile see 0 and free) and pushes the state on the owner's
// queue; the owner, at its next drain, adds `biased` into `word`, sets
// kMerged and clears kQueued (one fetch_add) and frees if the total is
// zero. A queued state is never freed before that. The owner drains on
// every IOLoop iteration, in IOLoop::close and at thread exit; a thread
// that has exited leaves its queue *orphaned*, and then whoever queues a
// state merges it on the spot (under the queue's mutex, which orders the
// read of `biased` after the owner's last write).
//
// The owner test is one compare, `owner_bits == tls_owner`: merging sets
// bit 0 of `owner_bits`, so the owner then takes the atomic path.
//
// Queues are never freed nor reused for another thread (they stay on a
// global list, so LeakSanitizer sees them reachable): a queue's address
// identifies its thread for the life of the process. About 100 bytes per
// thread that ever ran an IOLoop.

#ifndef TORNADO_FUTURE_INTERNAL_REFCOUNT_H_
#define TORNADO_FUTURE_INTERNAL_REFCOUNT_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace tornado::future_internal {

struct RefCount;

// Frees the State<T> a RefCount belongs to.
using FreeFn = void (*)(RefCount*) noexcept;

// One thread's released-elsewhere states, waiting for it to merge them.
struct OwnerQueue {
  struct Item {
    RefCount* state;
    FreeFn free;
  };
  std::atomic<bool> nonempty{false};  // a hint: items may be non-empty
  std::mutex mu;
  bool orphaned = false;           // guarded by mu: the owner thread has exited
  std::vector<Item> items;         // guarded by mu
  OwnerQueue* next_all = nullptr;  // the global list of all queues
};

static_assert(alignof(OwnerQueue) >= 2, "RefCount::owner_bits uses bit 0");

// The owner of shared-mode states: a queue no thread has.
extern constinit OwnerQueue g_shared_owner;
// This thread's queue, made the first time it runs an IOLoop; null before,
// and again once the thread's thread_local destructors have run.
extern constinit thread_local OwnerQueue* tls_owner;
// The owner given to states created now: tls_owner while an IOLoop runs on
// this thread, else &g_shared_owner.
extern constinit thread_local OwnerQueue* tls_new_owner;
// tls_owner, or &g_shared_owner (never non-empty) when null: what
// drain_released() checks, with no null test.
extern constinit thread_local OwnerQueue* tls_drain;

// Out of line, the rare paths (future.cc). The first two return true when
// the caller must free the state: the owner's `biased` reached zero with
// something in `word`; a release off the owner thread, or after merging.
bool merge_as_owner(RefCount* s) noexcept;
bool release_shared(RefCount* s, FreeFn free) noexcept;
void drain_queue(OwnerQueue* q) noexcept;
OwnerQueue* enter_loop_thread();
void leave_loop_thread(OwnerQueue* previous) noexcept;

struct RefCount {
  static constexpr int64_t kQueued = 1;
  static constexpr int64_t kMerged = 2;
  static constexpr int64_t kOne = 4;            // one reference in `word`
  static constexpr uintptr_t kOwnerMerged = 1;  // in `owner_bits`

  // The creator's handle is counted in `biased` (owned), or in `word`
  // (shared: merged from birth, so it never queues).
  RefCount() noexcept : RefCount(tls_new_owner) {}
  explicit RefCount(OwnerQueue* owner) noexcept
      : owner_bits(reinterpret_cast<uintptr_t>(owner)),
        word(owner == &g_shared_owner ? kOne | kMerged : 0) {}
  RefCount(const RefCount&) = delete;
  RefCount& operator=(const RefCount&) = delete;

  // True on the owner thread until it merges: one compare, as the merged
  // bit makes the owner's own address mismatch.
  bool owned_here() const noexcept {
    return owner_bits.load(std::memory_order_relaxed) ==
           reinterpret_cast<uintptr_t>(tls_owner);
  }
  OwnerQueue* owner() const noexcept {
    return reinterpret_cast<OwnerQueue*>(
        owner_bits.load(std::memory_order_relaxed) & ~kOwnerMerged);
  }

  // A new handle.
  [[gnu::always_inline]] void ref() noexcept {
    if (owned_here()) [[likely]] {
      ++biased;
    } else {
      word.fetch_add(kOne, std::memory_order_relaxed);
    }
  }

  // A handle released; true when the caller must free the state.
  [[gnu::always_inline]] bool unref(FreeFn free) noexcept {
    if (owned_here()) [[likely]] {
      if (--biased != 0) return false;
      // Nothing counted elsewhere, nothing queued: no handle is left.
      if (word.load(std::memory_order_acquire) == 0) return true;
      return merge_as_owner(this);
    }
    return release_shared(this, free);
  }

  // The owner's queue, plus kOwnerMerged once the owner counts in `word`
  // (set by the owner, or under an orphaned queue's mutex; read by anyone,
  // hence atomic, relaxed: a plain load).
  std::atomic<uintptr_t> owner_bits;
  std::atomic<int64_t> word;
  // The owner thread's alone (and, once the owner has exited, whoever
  // holds the orphaned queue's mutex). Unused in shared states.
  uint32_t biased = 1;
};

// IOLoop::start: while a loop runs on this thread, futures created here are
// biased to it. Restores the previous mode on exit (loops may nest).
class LoopThreadScope {
 public:
  LoopThreadScope() : previous_(enter_loop_thread()) {}
  ~LoopThreadScope() { leave_loop_thread(previous_); }
  LoopThreadScope(const LoopThreadScope&) = delete;
  LoopThreadScope& operator=(const LoopThreadScope&) = delete;

 private:
  OwnerQueue* previous_;
};

// Merges and frees what other threads released of this thread's states
// (IOLoop: every iteration, and close). Cheap when there is nothing.
inline void drain_released() noexcept {
  OwnerQueue* q = tls_drain;
  if (q->nonempty.load(std::memory_order_relaxed)) [[unlikely]] {
    drain_queue(q);
  }
}

}  // namespace tornado::future_internal

#endif  // TORNADO_FUTURE_INTERNAL_REFCOUNT_H_
