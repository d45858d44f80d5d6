// stack_context internals: the per-thread snapshot and the nodes it chains.
// Not for users: include "stack_context/stack_context.h".
//
// A snapshot is a pointer to the innermost node; each node points to the
// node that was innermost when it was entered (Tornado's
// `head.old_contexts[1]`). Nodes are immutable once made and shared
// (`std::shared_ptr`) by the scope that made them and every callable that
// captured them, so a snapshot is a single pointer and comparing two
// snapshots is comparing pointers, as Tornado compares tuples by identity.

#ifndef TORNADO_STACK_CONTEXT_INTERNAL_NODE_H_
#define TORNADO_STACK_CONTEXT_INTERNAL_NODE_H_

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/functional/function_ref.h"

namespace tornado::stack_context_internal {

// A type-erased guard returned by a StackContext factory; destroying it
// leaves the context.
class Guard {
 public:
  Guard() = default;
  template <class G>
  static Guard of(G guard) {
    Guard g;
    g.ptr_ = new G(std::move(guard));
    g.destroy_ = [](void* p) { delete static_cast<G*>(p); };
    return g;
  }
  Guard(Guard&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), destroy_(o.destroy_) {}
  Guard& operator=(Guard&& o) noexcept {
    reset();
    ptr_ = std::exchange(o.ptr_, nullptr);
    destroy_ = o.destroy_;
    return *this;
  }
  ~Guard() { reset(); }
  void reset() {
    if (ptr_) destroy_(std::exchange(ptr_, nullptr));
  }

 private:
  void* ptr_ = nullptr;
  void (*destroy_)(void*) = nullptr;
};

using Factory = std::function<Guard()>;

template <class F>
Factory erase_factory(F f) {
  using G = std::decay_t<std::invoke_result_t<F&>>;
  static_assert(std::is_move_constructible_v<G>,
                "StackContext: the factory must return a movable guard");
  return [f = std::move(f)]() { return Guard::of<G>(f()); };
}

class Node : public std::enable_shared_from_this<Node> {
 public:
  enum class Kind { kStack, kException, kLocal };

  static std::shared_ptr<Node> make_stack(Factory f);
  static std::shared_ptr<Node> make_exception(
      std::function<bool(std::exception_ptr)> h);
  static std::shared_ptr<Node> make_local(const void* key,
                                          std::shared_ptr<const void> value);

  Kind kind() const { return kind_; }
  const Node* parent() const { return parent_.get(); }
  Guard factory() const { return factory_(); }
  bool handle(std::exception_ptr e) const { return handler_(e); }
  const void* key() const { return key_; }
  const void* value() const { return value_.get(); }

  // Set by the coroutine machinery on nodes it has already reported as
  // left behind, so that their scopes end without a second report.
  void mark_abandoned() const { abandoned_.store(true, std::memory_order_relaxed); }
  bool abandoned() const { return abandoned_.load(std::memory_order_relaxed); }

  // Set when the scope that made the node has ended; a snapshot restored
  // after an out-of-order exit skips such nodes.
  void mark_left() const { left_.store(true, std::memory_order_relaxed); }
  bool left() const { return left_.load(std::memory_order_relaxed); }

  // Internal to enter(): links this node under the current snapshot.
  void set_parent(std::shared_ptr<const Node> parent) {
    parent_ = std::move(parent);
  }

 private:
  explicit Node(Kind k) : kind_(k) {}

  Kind kind_;
  std::shared_ptr<const Node> parent_;
  Factory factory_;
  std::function<bool(std::exception_ptr)> handler_;
  const void* key_ = nullptr;
  std::shared_ptr<const void> value_;
  mutable std::atomic<bool> abandoned_{false};
  mutable std::atomic<bool> left_{false};
};

// The thread's snapshot. A raw pointer: whoever installed it (a scope on
// the stack, a running wrapped callable) keeps the node alive meanwhile.
extern constinit thread_local const Node* tls_head;

inline const Node* current_head() { return tls_head; }
inline void set_head(const Node* n) { tls_head = n; }

// An owning reference to the current snapshot, for `wrap`.
inline std::shared_ptr<const Node> capture() {
  return tls_head ? tls_head->shared_from_this() : nullptr;
}

// Links `node` under the current snapshot and makes it current.
void enter(const std::shared_ptr<Node>& node);

// Ends the scope of `node`: if it is current, restores the snapshot it
// replaced (its parent, skipping scopes that already ended); otherwise
// reports the inconsistency and leaves the snapshot alone.
void leave(const Node* node) noexcept;

// Ends a NullContext: restores `saved` if no context is current.
void leave_null(const std::shared_ptr<const Node>& saved) noexcept;

// Installs a snapshot for the lifetime of the object.
class SwapHead {
 public:
  explicit SwapHead(const Node* head) : saved_(tls_head) { tls_head = head; }
  ~SwapHead() { tls_head = saved_; }
  SwapHead(const SwapHead&) = delete;
  SwapHead& operator=(const SwapHead&) = delete;

 private:
  const Node* saved_;
};

// Runs `fn` inside the snapshot `head` (non-null): re-enters its
// StackContexts, routes an escaping exception through its handlers,
// rethrows it if unhandled, and restores the caller's snapshot.
void run_in(const Node* head, absl::FunctionRef<void()> fn);

// The innermost Local value for `key`, or nullptr.
const void* find_local(const void* key);

// Marks the nodes from `from` (inclusive) up to `until` (exclusive) as
// abandoned; used when a coroutine is found suspended inside scopes.
void abandon(const Node* from, const Node* until) noexcept;

}  // namespace tornado::stack_context_internal

#endif  // TORNADO_STACK_CONTEXT_INTERNAL_NODE_H_
