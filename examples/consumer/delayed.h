// A future completed with `value` after `delay` on `loop`: callback style,
// no coroutines, so only //future and //ioloop are needed.
#ifndef CONSUMER_DELAYED_H_
#define CONSUMER_DELAYED_H_

#include <chrono>

#include "tornado/future/future.h"
#include "tornado/ioloop/ioloop.h"

template <class T>
tornado::Future<T> delayed(tornado::IOLoop& loop,
                           std::chrono::milliseconds delay, T value) {
  tornado::Future<T> f;
  loop.call_later(delay, [f, value]() mutable { f.set_result(value); });
  return f;
}

#endif  // CONSUMER_DELAYED_H_
