// -----------------------------------------------------------------------------
// counted.h
// -----------------------------------------------------------------------------
//
// `Counted`: a value type that counts its live instances, so a test can
// see a leak (more alive than expected) or a double destroy (fewer) of
// values held by futures shared across threads.
//
// Thread-safety: the count is atomic; a Counted itself is a plain value.

#ifndef TORNADO_TESTING_COUNTED_H_
#define TORNADO_TESTING_COUNTED_H_

#include <atomic>

namespace tornado::testing {

struct Counted {
  static inline std::atomic<int> live{0};
  int v;
  explicit Counted(int v) : v(v) { live.fetch_add(1); }
  Counted(const Counted& o) : v(o.v) { live.fetch_add(1); }
  Counted(Counted&& o) noexcept : v(o.v) { live.fetch_add(1); }
  Counted& operator=(const Counted&) = default;
  ~Counted() { live.fetch_sub(1); }
};

}  // namespace tornado::testing

#endif  // TORNADO_TESTING_COUNTED_H_
