#include "json.h"

#include <gtest/gtest.h>
#include <jansson.h>

#include <cstdint>
#include <random>
#include <string>

namespace nixery {
namespace {

const std::string fffd(replacement_character);

std::string bytes(std::initializer_list<int> list)
{
    std::string s;
    for (int b : list) {
        s.push_back(static_cast<char>(b));
    }
    return s;
}

std::string repeat_fffd(int n)
{
    std::string s;
    for (int i = 0; i < n; ++i) {
        s += fffd;
    }
    return s;
}

// A reference decoder written differently from lossy_utf8(): the WHATWG
// Encoding standard's UTF-8 decoder (bytes needed, lower and upper
// boundary), which replaces the same maximal subparts. NUL as U+FFFD.
std::string reference(std::string_view in)
{
    std::string out;
    auto emit = [&](std::uint32_t cp) {
        if (cp == 0 || cp == 0xFFFD) {
            out += fffd;
        } else if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    };
    std::uint32_t cp = 0;
    int needed = 0, seen = 0;
    unsigned lower = 0x80, upper = 0xBF;
    std::size_t i = 0;
    while (i < in.size()) {
        unsigned b = static_cast<unsigned char>(in[i]);
        if (needed == 0) {
            ++i;
            if (b <= 0x7F) {
                emit(b);
            } else if (b >= 0xC2 && b <= 0xDF) {
                needed = 1;
                cp = b & 0x1F;
            } else if (b >= 0xE0 && b <= 0xEF) {
                lower = b == 0xE0 ? 0xA0 : 0x80;
                upper = b == 0xED ? 0x9F : 0xBF;
                needed = 2;
                cp = b & 0x0F;
            } else if (b >= 0xF0 && b <= 0xF4) {
                lower = b == 0xF0 ? 0x90 : 0x80;
                upper = b == 0xF4 ? 0x8F : 0xBF;
                needed = 3;
                cp = b & 0x07;
            } else {
                emit(0xFFFD);
            }
            continue;
        }
        if (b < lower || b > upper) {
            cp = 0;
            needed = seen = 0;
            lower = 0x80;
            upper = 0xBF;
            emit(0xFFFD);
            continue; // the byte is looked at again
        }
        ++i;
        lower = 0x80;
        upper = 0xBF;
        cp = (cp << 6) | (b & 0x3F);
        if (++seen == needed) {
            emit(cp);
            cp = 0;
            needed = seen = 0;
        }
    }
    if (needed != 0) {
        emit(0xFFFD);
    }
    return out;
}

// What a reader gets back from the JSON text of lossy_json_string(s).
std::string round_trip(std::string_view s)
{
    JsonPtr j(lossy_json_string(s));
    std::string text = json_dump(j.get(), JSON_ENCODE_ANY);
    // Strict reader: no JSON_ALLOW_NUL.
    JsonPtr back(
        json_loadb(text.data(), text.size(), JSON_DECODE_ANY, nullptr));
    EXPECT_TRUE(json_is_string(back.get())) << text;
    if (!json_is_string(back.get())) {
        return {};
    }
    return std::string(json_string_value(back.get()),
                       json_string_length(back.get()));
}

bool jansson_accepts(const std::string& s)
{
    JsonPtr j(json_stringn(s.data(), s.size()));
    return j != nullptr;
}

TEST(LossyUtf8, ValidTextUnchanged)
{
    for (std::string s :
         {std::string(), std::string("plain ASCII ~!@#"),
          std::string("caf\xc3\xa9"), std::string("\xe2\x82\xac euro"),
          std::string("\xf0\x9f\x98\x80"), bytes({0xC2, 0x80}),
          bytes({0xDF, 0xBF}), bytes({0xE0, 0xA0, 0x80}),
          bytes({0xED, 0x9F, 0xBF}), bytes({0xEE, 0x80, 0x80}),
          bytes({0xEF, 0xBF, 0xBF}), bytes({0xF0, 0x90, 0x80, 0x80}),
          bytes({0xF4, 0x8F, 0xBF, 0xBF}), std::string("\x7f")}) {
        EXPECT_EQ(lossy_utf8(s), s);
        EXPECT_EQ(round_trip(s), s);
    }
}

TEST(LossyUtf8, NulBecomesReplacement)
{
    std::string s("before\0after\n", 13);
    EXPECT_EQ(lossy_utf8(s), "before" + fffd + "after\n");
    EXPECT_EQ(lossy_utf8(std::string(3, '\0')), repeat_fffd(3));
    EXPECT_EQ(round_trip(s), "before" + fffd + "after\n");
    JsonPtr j(lossy_json_string(s));
    EXPECT_EQ(json_dump(j.get(), JSON_ENCODE_ANY).find("\\u0000"),
              std::string::npos);
}

TEST(LossyUtf8, StrayAndImpossibleBytes)
{
    // Continuation bytes without a lead, and bytes never in UTF-8.
    for (int b : {0x80, 0x9F, 0xBF, 0xC0, 0xC1, 0xF5, 0xF8, 0xFC, 0xFE, 0xFF}) {
        EXPECT_EQ(lossy_utf8(bytes({'a', b, 'z'})), "a" + fffd + "z") << b;
    }
    EXPECT_EQ(lossy_utf8(bytes({0xFF, 0xFE})), repeat_fffd(2));
    EXPECT_EQ(lossy_utf8(bytes({0x80, 0x80, 0x80})), repeat_fffd(3));
}

TEST(LossyUtf8, Truncated)
{
    // A lead and its valid continuations, cut short: one replacement.
    EXPECT_EQ(lossy_utf8(bytes({0xC3})), fffd);
    EXPECT_EQ(lossy_utf8(bytes({0xE2, 0x82})), fffd);
    EXPECT_EQ(lossy_utf8(bytes({0xF0, 0x9F, 0x98})), fffd);
    EXPECT_EQ(lossy_utf8(bytes({0xE2, 0x82, 'A'})), fffd + "A");
    EXPECT_EQ(lossy_utf8(bytes({0xF0, 0x9F, 0x98, 0xC3, 0xA9})),
              fffd + "\xc3\xa9");
    EXPECT_EQ(lossy_utf8(bytes({0xC3, 0})), fffd + fffd);
}

TEST(LossyUtf8, OverlongEncodings)
{
    // '/' as 2, 3 and 4 bytes, and NUL as 2 bytes (Java's "modified UTF-8").
    EXPECT_EQ(lossy_utf8(bytes({0xC0, 0xAF})), repeat_fffd(2));
    EXPECT_EQ(lossy_utf8(bytes({0xE0, 0x80, 0xAF})), repeat_fffd(3));
    EXPECT_EQ(lossy_utf8(bytes({0xF0, 0x80, 0x80, 0xAF})), repeat_fffd(4));
    EXPECT_EQ(lossy_utf8(bytes({0xC0, 0x80})), repeat_fffd(2));
    EXPECT_EQ(lossy_utf8(bytes({0xC1, 0xBF})), repeat_fffd(2));
    EXPECT_EQ(lossy_utf8(bytes({0xE0, 0x9F, 0xBF})), repeat_fffd(3));
    EXPECT_EQ(lossy_utf8(bytes({0xF0, 0x8F, 0xBF, 0xBF})), repeat_fffd(4));
}

TEST(LossyUtf8, Surrogates)
{
    EXPECT_EQ(lossy_utf8(bytes({0xED, 0xA0, 0x80})), repeat_fffd(3));
    EXPECT_EQ(lossy_utf8(bytes({0xED, 0xBF, 0xBF})), repeat_fffd(3));
    // A surrogate pair as CESU-8.
    EXPECT_EQ(lossy_utf8(bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80})),
              repeat_fffd(6));
}

TEST(LossyUtf8, AboveU10FFFF)
{
    EXPECT_EQ(lossy_utf8(bytes({0xF4, 0x90, 0x80, 0x80})), repeat_fffd(4));
    EXPECT_EQ(lossy_utf8(bytes({0xF7, 0xBF, 0xBF, 0xBF})), repeat_fffd(4));
    EXPECT_EQ(lossy_utf8(bytes({0xF8, 0x88, 0x80, 0x80, 0x80})),
              repeat_fffd(5));
}

TEST(LossyUtf8, EscapesAndControlsSurviveJson)
{
    std::string s = "\x1b[31mred\x1b[0m \"q\" back\\slash\n\t\r\b\f\x01\x7f";
    EXPECT_EQ(lossy_utf8(s), s);
    EXPECT_EQ(round_trip(s), s);
    JsonPtr j(lossy_json_string(s));
    std::string text = json_dump(j.get(), JSON_ENCODE_ANY);
    EXPECT_NE(text.find("\\u001B[31m"), std::string::npos) << text;
    for (char c : text) {
        EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << text;
    }
}

TEST(LossyUtf8, EveryOneAndTwoByteInput)
{
    for (int a = 0; a < 256; ++a) {
        for (int b = -1; b < 256; ++b) {
            std::string s = b < 0 ? bytes({a}) : bytes({a, b});
            std::string out = lossy_utf8(s);
            ASSERT_EQ(out, reference(s)) << a << " " << b;
            ASSERT_TRUE(jansson_accepts(out));
            ASSERT_EQ(out.find('\0'), std::string::npos);
            if (s.find('\0') == std::string::npos && jansson_accepts(s)) {
                ASSERT_EQ(out, s);
            }
        }
    }
}

TEST(LossyUtf8, GeneratedInputsMatchTheReference)
{
    // Bytes that start, continue or break sequences, and ASCII.
    const int alphabet[] = {0x00, 'a',  0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                            0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEE,
                            0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF};
    std::mt19937_64 rng(20240601);
    std::uniform_int_distribution<int> pick(0, std::size(alphabet) - 1);
    std::uniform_int_distribution<int> any(0, 255);
    std::uniform_int_distribution<int> len(0, 12);
    for (int n = 0; n < 200000; ++n) {
        std::string s;
        int l = len(rng);
        for (int i = 0; i < l; ++i) {
            s.push_back(
                static_cast<char>(n % 2 ? alphabet[pick(rng)] : any(rng)));
        }
        std::string out = lossy_utf8(s);
        ASSERT_EQ(out, reference(s));
        ASSERT_TRUE(jansson_accepts(out));
        if (s.find('\0') == std::string::npos && jansson_accepts(s)) {
            ASSERT_EQ(out, s);
        }
    }
}

TEST(LossyUtf8, OneMegabyte)
{
    std::mt19937_64 rng(7);
    std::string noise(1 << 20, '\0');
    for (char& c : noise) {
        c = static_cast<char>(rng());
    }
    std::string out = lossy_utf8(noise);
    EXPECT_EQ(out, reference(noise));
    EXPECT_EQ(round_trip(noise), out);

    std::string text;
    while (text.size() < (1u << 20)) {
        text += "line of text \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n";
    }
    EXPECT_EQ(lossy_utf8(text), text);
    EXPECT_EQ(round_trip(text), text);
}

TEST(JsonDump, SerialisesAndFails)
{
    JsonPtr o(json_pack("{s:i,s:[s]}", "a", 1, "b", "c"));
    EXPECT_EQ(json_dump(o.get(), JSON_COMPACT | JSON_PRESERVE_ORDER),
              "{\"a\":1,\"b\":[\"c\"]}");
    EXPECT_THROW(json_dump(nullptr, JSON_COMPACT), std::runtime_error);
    // A bare string is not a document unless asked for.
    JsonPtr s(lossy_json_string("x"));
    EXPECT_THROW(json_dump(s.get(), JSON_COMPACT), std::runtime_error);
    EXPECT_EQ(json_dump(s.get(), JSON_ENCODE_ANY), "\"x\"");
}

} // namespace
} // namespace nixery
