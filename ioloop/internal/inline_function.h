// ioloop internals: InlineFunction, a move-only type-erased callable with
// a larger inline buffer than absl::AnyInvocable's two pointers.
//
// Why: the loop stores every callback, timeout and handler. Typical
// captures (a Future plus two ints, as in the document's pattern; a few
// references) are 24-40 bytes, which AnyInvocable would put on the heap:
// one allocation per callback. Here anything up to kCapacity bytes that is
// nothrow-movable lives inline; larger callables go to the heap.
// Trivially copyable callables are moved with memcpy and need no
// destructor call.
//
// Thread-compatible.

#ifndef TORNADO_IOLOOP_INTERNAL_INLINE_FUNCTION_H_
#define TORNADO_IOLOOP_INTERNAL_INLINE_FUNCTION_H_

#include <cstddef>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

namespace tornado::ioloop_internal {

template <class Sig>
class InlineFunction;

template <class R, class... Args>
class InlineFunction<R(Args...)> {
 public:
  static constexpr size_t kCapacity = 40;

  InlineFunction() = default;
  InlineFunction(std::nullptr_t) {}

  // For R = void, a callable returning something else is accepted and its
  // result discarded.
  template <class F, class D = std::decay_t<F>>
    requires(!std::is_same_v<D, InlineFunction> &&
             std::is_invocable_r_v<R, D&, Args...>)
  InlineFunction(F&& f) {  // NOLINT(google-explicit-constructor)
    construct<D>(std::forward<F>(f));
  }

  // Replaces the callable with `f`, constructed in place.
  template <class F, class D = std::decay_t<F>>
  void emplace(F&& f) {
    reset();
    construct<D>(std::forward<F>(f));
  }

  InlineFunction(InlineFunction&& o) noexcept { take(o); }
  InlineFunction& operator=(InlineFunction&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  InlineFunction& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  ~InlineFunction() { reset(); }

  explicit operator bool() const { return ops_ != nullptr; }

  R operator()(Args... args) {
    return ops_->invoke(buf_, std::forward<Args>(args)...);
  }

 private:
  struct Ops {
    R (*invoke)(void*, Args&&...);
    // Null for trivially copyable callables: memcpy moves them and
    // nothing destroys them.
    void (*move)(void* dst, void* src) noexcept;
    void (*destroy)(void*) noexcept;
  };

  template <class D>
  static constexpr bool kInline =
      sizeof(D) <= kCapacity && alignof(D) <= alignof(std::max_align_t) &&
      std::is_nothrow_move_constructible_v<D>;

  template <class D>
  static R invoke_inline(void* p, Args&&... args) {
    if constexpr (std::is_void_v<R>) {
      static_cast<void>(std::invoke(*static_cast<D*>(p), std::forward<Args>(args)...));
    } else {
      return std::invoke(*static_cast<D*>(p), std::forward<Args>(args)...);
    }
  }
  template <class D>
  static void move_inline(void* dst, void* src) noexcept {
    ::new (dst) D(std::move(*static_cast<D*>(src)));
    static_cast<D*>(src)->~D();
  }
  template <class D>
  static void destroy_inline(void* p) noexcept {
    static_cast<D*>(p)->~D();
  }
  template <class D>
  static constexpr bool kTrivial = std::is_trivially_copyable_v<D> &&
                                   std::is_trivially_destructible_v<D>;
  template <class D>
  static constexpr Ops kInlineOps = {
      &invoke_inline<D>, kTrivial<D> ? nullptr : &move_inline<D>,
      kTrivial<D> ? nullptr : &destroy_inline<D>};

  template <class D>
  static D* heap_ptr(void* p) {
    D* d;
    std::memcpy(&d, p, sizeof d);
    return d;
  }
  template <class D>
  static R invoke_heap(void* p, Args&&... args) {
    if constexpr (std::is_void_v<R>) {
      static_cast<void>(std::invoke(*heap_ptr<D>(p), std::forward<Args>(args)...));
    } else {
      return std::invoke(*heap_ptr<D>(p), std::forward<Args>(args)...);
    }
  }
  template <class D>
  static void destroy_heap(void* p) noexcept {
    delete heap_ptr<D>(p);
  }
  // The pointer itself is trivially movable.
  template <class D>
  static constexpr Ops kHeapOps = {&invoke_heap<D>, nullptr, &destroy_heap<D>};

  template <class D, class F>
  void construct(F&& f) {
    if constexpr (kInline<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      D* p = new D(std::forward<F>(f));
      std::memcpy(buf_, &p, sizeof p);
      ops_ = &kHeapOps<D>;
    }
  }

  void take(InlineFunction& o) noexcept {
    ops_ = o.ops_;
    if (ops_ == nullptr) return;
    if (ops_->move != nullptr) {
      ops_->move(buf_, o.buf_);
    } else {
      std::memcpy(buf_, o.buf_, kCapacity);
    }
    o.ops_ = nullptr;
  }
  void reset() noexcept {
    if (ops_ != nullptr && ops_->destroy != nullptr) ops_->destroy(buf_);
    ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char buf_[kCapacity];
  const Ops* ops_ = nullptr;
};

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_INLINE_FUNCTION_H_
