// gen internals: SourceLocation, std::source_location where the standard
// library has it, else the same three fields from the compiler builtins
// (Debian's clang 14 with libstdc++ 12 has no std::source_location). Only
// the function name differs: std::source_location gives GCC's full
// signature, the builtins the bare name; the coroutine dump shortens both
// to the name.
//
// Thread-safe (a value type).

#ifndef TORNADO_GEN_INTERNAL_SOURCE_LOCATION_H_
#define TORNADO_GEN_INTERNAL_SOURCE_LOCATION_H_

#include <cstdint>
#include <version>

#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace tornado::gen::gen_internal {

#if defined(__cpp_lib_source_location)
using SourceLocation = std::source_location;
#else
class SourceLocation {
 public:
  constexpr SourceLocation() noexcept = default;
  static constexpr SourceLocation current(
      const char* file = __builtin_FILE(), const char* function = __builtin_FUNCTION(),
      std::uint_least32_t line = __builtin_LINE()) noexcept {
    SourceLocation s;
    s.file_ = file;
    s.function_ = function;
    s.line_ = line;
    return s;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return 0; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  std::uint_least32_t line_ = 0;
};
#endif

}  // namespace tornado::gen::gen_internal

#endif  // TORNADO_GEN_INTERNAL_SOURCE_LOCATION_H_
