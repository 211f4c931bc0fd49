#include "json.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

namespace nixery {

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to
// 4), or 0 when it starts with an ill-formed one, in which case `bad` is
// the length of its maximal subpart (at least 1): what one U+FFFD replaces.
// The ranges are Table 3-7 of the Unicode standard ("Well-Formed UTF-8
// Byte Sequences"); excluding the rest excludes overlong encodings,
// surrogates and code points above U+10FFFF.
std::size_t sequence_length(std::string_view s, std::size_t& bad) noexcept
{
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char b = byte(0);
    std::size_t need;
    unsigned char lo = 0x80, hi = 0xBF; // the second byte's range
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        lo = b == 0xE0 ? 0xA0 : 0x80; // E0 80..9F: overlong
        hi = b == 0xED ? 0x9F : 0xBF; // ED A0..BF: surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        lo = b == 0xF0 ? 0x90 : 0x80; // F0 80..8F: overlong
        hi = b == 0xF4 ? 0x8F : 0xBF; // F4 90..: above U+10FFFF
    } else {
        bad = 1; // a continuation byte, C0, C1 or F5..FF
        return 0;
    }
    for (std::size_t i = 1; i < need; ++i) {
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (i >= s.size() || byte(i) < l || byte(i) > h) {
            bad = i;
            return 0;
        }
    }
    return need;
}

} // namespace

std::string lossy_utf8(std::string_view bytes)
{
    std::string out;
    out.reserve(bytes.size());
    std::size_t i = 0;
    while (i < bytes.size()) {
        // Runs of printable ASCII, the usual case, are copied at once.
        std::size_t run = i;
        while (run < bytes.size() && bytes[run] != '\0' &&
               static_cast<unsigned char>(bytes[run]) < 0x80) {
            ++run;
        }
        out.append(bytes.substr(i, run - i));
        i = run;
        if (i == bytes.size()) {
            break;
        }
        if (bytes[i] == '\0') {
            out.append(replacement_character);
            ++i;
            continue;
        }
        std::size_t bad = 0;
        std::size_t n = sequence_length(bytes.substr(i), bad);
        if (n != 0) {
            out.append(bytes.substr(i, n));
            i += n;
        } else {
            out.append(replacement_character);
            i += bad;
        }
    }
    return out;
}

json_t* lossy_json_string(std::string_view bytes)
{
    std::string text = lossy_utf8(bytes);
    // Valid UTF-8 by construction: jansson fails only to allocate.
    json_t* j = json_stringn(text.data(), text.size());
    if (j == nullptr) {
        throw std::bad_alloc();
    }
    return j;
}

std::string json_dump(const json_t* value, std::size_t flags)
{
    char* text = value ? json_dumps(value, flags) : nullptr;
    if (text == nullptr) {
        throw std::runtime_error("json: cannot serialise");
    }
    std::string out(text);
    std::free(text);
    return out;
}

} // namespace nixery
