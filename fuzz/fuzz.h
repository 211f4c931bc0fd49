// Shared by the libFuzzer targets in this folder (docs/testing.md): the
// entry point's signature, and a check that stays on in every build type.
//
// A target does more than survive its input: where a parser has a writer or
// an invariant, the target states it with require(), and a violation
// aborts, which libFuzzer reports as a crash with the input kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define NIXERY_FUZZ_TARGET                                                     \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,            \
                                          std::size_t size)

namespace nixery::fuzz {

inline std::string_view bytes(const std::uint8_t* data, std::size_t size)
{
    return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void failed(const char* what, const char* file, int line)
{
    std::fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
    std::abort();
}

} // namespace nixery::fuzz

#define require(cond)                                                          \
    ((cond) ? (void)0 : ::nixery::fuzz::failed(#cond, __FILE__, __LINE__))
