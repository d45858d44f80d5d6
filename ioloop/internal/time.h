// ioloop internals: time arithmetic that saturates.
//
// Every duration and deadline a user hands the loop goes through these:
// a duration too long for the clock's nanoseconds becomes
// `duration::max()` (never), one too negative `duration::min()`, and a
// deadline past the clock's range is `time_point::max()` / `min()` rather
// than a signed overflow (undefined behaviour, and in practice a timer
// firing at once). Abseil's `Duration` and Asio's `chrono_time_traits`
// do the same. A NaN duration is an error (std::invalid_argument).
//
// Thread-safe (pure functions).

#ifndef TORNADO_IOLOOP_INTERNAL_TIME_H_
#define TORNADO_IOLOOP_INTERNAL_TIME_H_

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <stdexcept>
#include <type_traits>

namespace tornado::ioloop_internal {

using Clock = std::chrono::steady_clock;
using ClockDuration = Clock::duration;
using ClockTimePoint = Clock::time_point;

// saturating_duration()
//
// `d` in the clock's units, clamped to [duration::min(), duration::max()].
template <class Rep, class Period>
ClockDuration saturating_duration(std::chrono::duration<Rep, Period> d) {
  using Ratio = std::ratio_divide<Period, ClockDuration::period>;
  using Out = ClockDuration::rep;
  constexpr Out kMax = std::numeric_limits<Out>::max();
  constexpr Out kMin = std::numeric_limits<Out>::min();
  if constexpr (std::is_floating_point_v<Rep>) {
    const long double ticks = static_cast<long double>(d.count()) * Ratio::num / Ratio::den;
    if (ticks != ticks) {
      throw std::invalid_argument("IOLoop: a duration is NaN");
    }
    if (ticks >= static_cast<long double>(kMax)) return ClockDuration::max();
    if (ticks <= static_cast<long double>(kMin)) return ClockDuration::min();
    return ClockDuration(static_cast<Out>(ticks));
  } else if constexpr (Ratio::den == 1) {
    // Whole clock ticks per unit: compare before multiplying.
    const auto count = static_cast<long double>(d.count());
    if (count * Ratio::num >= static_cast<long double>(kMax)) {
      return ClockDuration::max();
    }
    if (count * Ratio::num <= static_cast<long double>(kMin)) {
      return ClockDuration::min();
    }
    return ClockDuration(static_cast<Out>(d.count()) * static_cast<Out>(Ratio::num));
  } else {
    // Finer than the clock (or an odd ratio): long double holds any int64
    // exactly, and the result is in range once clamped.
    const long double ticks = static_cast<long double>(d.count()) * Ratio::num / Ratio::den;
    if (ticks >= static_cast<long double>(kMax)) return ClockDuration::max();
    if (ticks <= static_cast<long double>(kMin)) return ClockDuration::min();
    return ClockDuration(static_cast<Out>(ticks));
  }
}

// saturating_add()
//
// `t + d`, clamped to [time_point::min(), time_point::max()].
inline ClockTimePoint saturating_add(ClockTimePoint t, ClockDuration d) {
  const auto a = t.time_since_epoch().count();
  const auto b = d.count();
  ClockDuration::rep sum;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? ClockTimePoint::max() : ClockTimePoint::min();
  }
  return ClockTimePoint(ClockDuration(sum));
}

// The deadline `d` from `now`.
template <class Rep, class Period>
ClockTimePoint deadline_after(ClockTimePoint now,
                              std::chrono::duration<Rep, Period> d) {
  return saturating_add(now, saturating_duration(d));
}

// until()
//
// `deadline - now`, zero when the deadline has passed (never negative, no
// overflow for time_point::min()).
inline ClockDuration until(ClockTimePoint deadline, ClockTimePoint now) {
  if (deadline <= now) return ClockDuration::zero();
  ClockDuration::rep diff;
  if (__builtin_sub_overflow(deadline.time_since_epoch().count(),
                             now.time_since_epoch().count(), &diff)) {
    return ClockDuration::max();
  }
  return ClockDuration(diff);
}

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_TIME_H_
