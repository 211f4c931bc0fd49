// JSON on top of jansson, for the core and the helper: an owning pointer,
// JSON strings made from arbitrary bytes, and serialising to std::string.
//
// What we put in JSON often comes from outside: Nix's messages, store path
// names, package names. jansson refuses a string that is not UTF-8, and
// writes a NUL as "\u0000", which jansson itself (without JSON_ALLOW_NUL),
// many C readers and nginx's "%s" log lines cannot take. lossy_utf8() turns
// any bytes into valid UTF-8 without NUL, so every record we write can be
// read back by every reader, flag or no flag, and a message still says
// what it said (only the unreadable bytes change). Readers of records that
// an older writer may have stored with "\u0000" load them with
// JSON_ALLOW_NUL (queue_schema.c++).
#pragma once

#include <jansson.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace nixery {

// Owning pointer for jansson values: one decref when it goes out of scope.
struct JsonDeleter {
    void operator()(json_t* j) const noexcept { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

// The replacement for what cannot be kept: U+REPLACEMENT CHARACTER.
inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

// `bytes` as valid UTF-8 with no NUL: each NUL becomes U+FFFD, and so does
// each maximal ill-formed subsequence (the Unicode standard's "substitution
// of maximal subparts", as browsers decode): stray continuation bytes,
// truncated sequences, overlong encodings, surrogates (UTF-16 halves
// encoded as UTF-8), code points above U+10FFFF, bytes 0xC0, 0xC1 and
// 0xF5-0xFF. Valid UTF-8 without NUL comes back unchanged.
std::string lossy_utf8(std::string_view bytes);

// A new JSON string holding lossy_utf8(bytes), for json_object_set_new()
// and json_array_append_new(). Throws std::bad_alloc when jansson cannot
// allocate it; never returns null.
json_t* lossy_json_string(std::string_view bytes);

// json_dumps() into a std::string (jansson's buffer freed here). Throws
// std::runtime_error when jansson cannot serialise `value` (null, or out
// of memory). `flags` are json_dumps()'s.
std::string json_dump(const json_t* value, std::size_t flags);

} // namespace nixery
