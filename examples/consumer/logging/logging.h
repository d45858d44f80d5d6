// The consumer's own logging header, at the path tornado's used to have:
// tornado's headers must not pick it up (they include
// "tornado/logging/logging.h").
#ifndef CONSUMER_LOGGING_LOGGING_H_
#define CONSUMER_LOGGING_LOGGING_H_

namespace consumer_logging {
inline const char* tag() { return "consumer"; }
}  // namespace consumer_logging

#endif  // CONSUMER_LOGGING_LOGGING_H_
