// -----------------------------------------------------------------------------
// testing.h
// -----------------------------------------------------------------------------
//
// The testing kit's umbrella header (target //testing, an alias of
// //testing:async_test): the AsyncTest fixture and ExpectLog, for
// GoogleTest tests of code on the IOLoop. See async_test.h.

#ifndef TORNADO_TESTING_TESTING_H_
#define TORNADO_TESTING_TESTING_H_

#include "tornado/testing/async_test.h"  // IWYU pragma: export

#endif  // TORNADO_TESTING_TESTING_H_
