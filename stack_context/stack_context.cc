#include "tornado/stack_context/stack_context.h"

#include "absl/container/inlined_vector.h"
#include "tornado/logging/logging.h"

namespace tornado {
namespace stack_context_internal {

constinit thread_local const Node* tls_head = nullptr;

namespace {
// Namespace scope, trivially destructible: no per-thread destructor.
constinit thread_local int tls_inconsistencies = 0;
}  // namespace

std::shared_ptr<Node> Node::make_stack(Factory f) {
  std::shared_ptr<Node> n(new Node(Kind::kStack));
  n->factory_ = std::move(f);
  return n;
}

std::shared_ptr<Node> Node::make_exception(
    std::function<bool(std::exception_ptr)> h) {
  std::shared_ptr<Node> n(new Node(Kind::kException));
  n->handler_ = std::move(h);
  return n;
}

std::shared_ptr<Node> Node::make_local(const void* key,
                                       std::shared_ptr<const void> value) {
  std::shared_ptr<Node> n(new Node(Kind::kLocal));
  n->key_ = key;
  n->value_ = std::move(value);
  return n;
}

void enter(const std::shared_ptr<Node>& node) {
  node->set_parent(capture());
  tls_head = node.get();
}

namespace {
// The parent chain keeps every node above `n` alive; scopes that ended out
// of order are skipped so the thread never points at a dead scope.
const Node* live(const Node* n) {
  while (n != nullptr && n->left()) n = n->parent();
  return n;
}

void report_inconsistency() {
  ++tls_inconsistencies;
  logging::error(
      "stack_context inconsistency: a scope was left while a context "
      "entered after it was still active (probably a co_await inside a "
      "StackContext block); the thread's contexts are left as they are");
}
}  // namespace

void leave(const Node* node) noexcept {
  node->mark_left();
  if (tls_head == node) {
    tls_head = live(node->parent());
  } else if (!node->abandoned()) {  // abandoned: already reported
    report_inconsistency();
  }
}

void leave_null(const std::shared_ptr<const Node>& saved) noexcept {
  if (tls_head == nullptr) {
    tls_head = live(saved.get());
  } else {
    report_inconsistency();
  }
}

const void* find_local(const void* key) {
  for (const Node* n = tls_head; n != nullptr; n = n->parent()) {
    if (n->kind() == Node::Kind::kLocal && n->key() == key) return n->value();
  }
  return nullptr;
}

void abandon(const Node* from, const Node* until) noexcept {
  for (const Node* n = from; n != nullptr && n != until; n = n->parent()) {
    n->mark_abandoned();
  }
}

void run_in(const Node* head, absl::FunctionRef<void()> fn) {
  SwapHead swap(head);
  // The StackContexts of the snapshot, outermost first, and their guards.
  absl::InlinedVector<const Node*, 4> stack_nodes;
  for (const Node* n = head; n != nullptr; n = n->parent()) {
    if (n->kind() == Node::Kind::kStack) stack_nodes.push_back(n);
  }
  absl::InlinedVector<Guard, 4> guards;
  std::exception_ptr exc;
  const Node* top = head;  // where the exception walk starts
  for (size_t i = stack_nodes.size(); i-- > 0;) {
    try {
      guards.push_back(stack_nodes[i]->factory());
    } catch (...) {
      exc = std::current_exception();
      top = stack_nodes[i]->parent();
      break;
    }
  }
  if (!exc) {
    try {
      fn();
    } catch (...) {
      exc = std::current_exception();
    }
  }
  // Walk innermost to outermost (Tornado's _handle_exception and the normal
  // exit alike): leave each entered StackContext, and offer a pending
  // exception to each ExceptionStackContext, so an outer handler runs after
  // the inner contexts have been left.
  bool past_top = top == head;
  for (const Node* n = head; n != nullptr; n = n->parent()) {
    if (n == top) past_top = true;
    if (n->kind() == Node::Kind::kStack) {
      // guards[k] belongs to stack_nodes[size-1-k]: the innermost entered
      // one is last.
      if (!guards.empty() &&
          stack_nodes[stack_nodes.size() - guards.size()] == n) {
        guards.pop_back();
      }
    } else if (n->kind() == Node::Kind::kException && exc && past_top) {
      try {
        if (n->handle(exc)) exc = nullptr;
      } catch (...) {
        exc = std::current_exception();
      }
    }
  }
  guards.clear();
  if (exc) std::rethrow_exception(exc);
}

}  // namespace stack_context_internal

StackContext::~StackContext() {
  guard_.reset();  // leave the context first, as Tornado's __exit__
  stack_context_internal::leave(node_.get());
}

ExceptionStackContext::ExceptionStackContext(
    std::function<bool(std::exception_ptr)> handler)
    : node_(stack_context_internal::Node::make_exception(std::move(handler))) {
  stack_context_internal::enter(node_);
}

ExceptionStackContext::~ExceptionStackContext() {
  stack_context_internal::leave(node_.get());
}

NullContext::NullContext() : saved_(stack_context_internal::capture()) {
  stack_context_internal::tls_head = nullptr;
}

NullContext::~NullContext() { stack_context_internal::leave_null(saved_); }

namespace stack_context {
int inconsistencies() { return stack_context_internal::tls_inconsistencies; }
}  // namespace stack_context

}  // namespace tornado
