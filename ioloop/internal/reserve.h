// ioloop internals: make room before changing anything.
//
// The loop gives every scheduling call the strong guarantee (if it throws,
// nothing changed): containers grow first, then the entry is published
// with operations that cannot throw. `reserve_one_more` grows a vector
// geometrically, as push_back would (std::vector::reserve(size() + 1)
// would reallocate on every call).
//
// Thread-compatible.

#ifndef TORNADO_IOLOOP_INTERNAL_RESERVE_H_
#define TORNADO_IOLOOP_INTERNAL_RESERVE_H_

#include <algorithm>
#include <cstddef>

namespace tornado::ioloop_internal {

template <class Vector>
void reserve_one_more(Vector& v) {
  if (v.size() == v.capacity()) {
    v.reserve(std::max<std::size_t>(8, 2 * v.capacity()));
  }
}

// Room for `n` more elements, growing geometrically.
template <class Vector>
void reserve_more(Vector& v, std::size_t n) {
  if (v.capacity() - v.size() < n) {
    v.reserve(std::max<std::size_t>(v.size() + n, 2 * v.capacity()));
  }
}

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_RESERVE_H_
