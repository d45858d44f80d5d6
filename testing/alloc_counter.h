// -----------------------------------------------------------------------------
// alloc_counter.h
// -----------------------------------------------------------------------------
//
// Counts heap allocations made through operator new, so tests can assert
// "no allocation here" and benchmarks can report allocations per
// operation. Linking this library replaces the global operator new/delete
// of the binary (testonly).
//
// Thread-safety: the count is per thread; reading it is thread-safe.

#ifndef TORNADO_TESTING_ALLOC_COUNTER_H_
#define TORNADO_TESTING_ALLOC_COUNTER_H_

#include <cstdint>

namespace tornado::testing {

// Allocations made so far on the calling thread.
uint64_t allocations();

// True when this binary's allocations go through the counting operator
// new. Under AddressSanitizer the sanitizer's own operator new wins, and
// tests that assert allocation counts skip themselves.
bool counting_works();

// Makes `p` (and what it points to) visible to code the optimizer cannot
// see, so an allocation under test cannot be elided.
void escape(const void* p);

// Counts the calling thread's allocations from construction on.
class AllocCounter {
 public:
  AllocCounter() : start_(allocations()) {}
  uint64_t count() const { return allocations() - start_; }

 private:
  uint64_t start_;
};

}  // namespace tornado::testing

#endif  // TORNADO_TESTING_ALLOC_COUNTER_H_
