#include "tornado/testing/alloc_counter.h"

#include <cstdlib>
#include <new>

namespace tornado::testing {
namespace {
constinit thread_local uint64_t tls_allocations = 0;

void* counted_alloc(std::size_t n) {
  ++tls_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

uint64_t allocations() { return tls_allocations; }
void escape(const void* p);

bool counting_works() {
  uint64_t before = tls_allocations;
  int* p = new int(1);
  escape(p);
  delete p;
  return tls_allocations != before;
}

void escape(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

}  // namespace tornado::testing

// Sanitizer builds interpose malloc themselves; these stay compatible with
// them since they call malloc/free.
void* operator new(std::size_t n) { return tornado::testing::counted_alloc(n); }
void* operator new[](std::size_t n) {
  return tornado::testing::counted_alloc(n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
