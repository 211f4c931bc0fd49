// Property tests of the queue's records: for generated jobs and results
// (a seeded PRNG, strings of every byte value, boundary numbers), what
// format_*() writes, parse_*() reads back; and what the writer refuses
// (a key that is not 64 lowercase hex digits) the reader refuses too.
#include "json.h"
#include "queue_schema.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

namespace nixery::queue {
namespace {

using Rng = std::mt19937_64;

std::string hex64(Rng& rng)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(64, '0');
    for (char& c : s) {
        c = digits[rng() % 16];
    }
    return s;
}

// Bytes of every value, with runs of valid UTF-8, escapes and NULs.
std::string any_bytes(Rng& rng)
{
    static const std::string pieces[] = {std::string(1, '\0'),
                                         "\"",
                                         "\\",
                                         "\x1b[31m",
                                         "\n",
                                         "\t",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xed\xa0\x80",
                                         "\xc0\xaf",
                                         "\xf4\x90\x80\x80",
                                         "\xff",
                                         "\x80",
                                         "\xe2\x82",
                                         "plain",
                                         "/nix/store/",
                                         "u0000"};
    std::string s;
    std::size_t n = rng() % 24;
    for (std::size_t i = 0; i < n; ++i) {
        if (rng() % 2) {
            s.push_back(static_cast<char>(rng() % 256));
        } else {
            s += pieces[rng() % std::size(pieces)];
        }
    }
    return s;
}

std::int64_t any_int64(Rng& rng)
{
    static constexpr std::int64_t edges[] = {
        0,
        1,
        -1,
        std::numeric_limits<std::int64_t>::min(),
        std::numeric_limits<std::int64_t>::max(),
        std::numeric_limits<std::int64_t>::min() + 1,
        std::numeric_limits<std::int64_t>::max() - 1,
        (std::int64_t(1) << 53) + 1, // not exact as a double
        -(std::int64_t(1) << 53) - 1,
        std::int64_t(1) << 31,
        std::int64_t(1) << 32,
        1700000000123};
    return rng() % 3 ? static_cast<std::int64_t>(rng())
                     : edges[rng() % std::size(edges)];
}

ErrorCode any_code(Rng& rng)
{
    static constexpr ErrorCode codes[] = {
        ErrorCode::blob_unknown,      ErrorCode::digest_invalid,
        ErrorCode::manifest_unknown,  ErrorCode::name_invalid,
        ErrorCode::name_unknown,      ErrorCode::tag_invalid,
        ErrorCode::unsupported,       ErrorCode::unavailable,
        ErrorCode::too_many_requests, ErrorCode::unknown};
    return codes[rng() % std::size(codes)];
}

Result any_result(Rng& rng)
{
    Result r;
    r.key = hex64(rng);
    r.ok = rng() % 4 == 0;
    // Ok results with leftover failure fields, too: the writer drops them.
    if (!r.ok || rng() % 2) {
        r.code = any_code(rng);
        r.message = any_bytes(rng);
        r.detail = any_bytes(rng);
        for (std::size_t n = rng() % 4; n > 0; --n) {
            r.unknown.push_back(any_bytes(rng));
        }
    }
    return r;
}

// What the reader is meant to get back: strings as lossy_utf8(), and an ok
// result without failure fields.
Job canonical(Job j)
{
    j.name = lossy_utf8(j.name);
    j.tag = lossy_utf8(j.tag);
    return j;
}

Result canonical(Result r)
{
    if (r.ok) {
        return ok_result(r.key);
    }
    r.message = lossy_utf8(r.message);
    r.detail = lossy_utf8(r.detail);
    for (std::string& p : r.unknown) {
        p = lossy_utf8(p);
    }
    return r;
}

std::string bad_key(Rng& rng)
{
    std::string k = hex64(rng);
    switch (rng() % 5) {
    case 0:
        k.pop_back();
        break;
    case 1:
        k.push_back('a');
        break;
    case 2:
        k[rng() % 64] = "ABCDEFgz:/ "[rng() % 11];
        break;
    case 3:
        k[rng() % 64] = '\0';
        break;
    default:
        k = any_bytes(rng);
        break;
    }
    return k;
}

constexpr int cases = 5000;

TEST(QueueSchemaProperty, JobsRoundTrip)
{
    Rng rng(1);
    for (int i = 0; i < cases; ++i) {
        Job job{hex64(rng), any_bytes(rng), any_bytes(rng), any_int64(rng)};
        std::string text = format_job(job);
        std::optional<Job> back = parse_job(text);
        ASSERT_TRUE(back) << text;
        ASSERT_EQ(*back, canonical(job)) << text;
        // The canonical value is a fixed point: written again, same bytes.
        ASSERT_EQ(format_job(*back), text);
    }
}

TEST(QueueSchemaProperty, ValidTextJobsRoundTripExactly)
{
    Rng rng(2);
    for (int i = 0; i < cases; ++i) {
        Job job{hex64(rng), lossy_utf8(any_bytes(rng)),
                lossy_utf8(any_bytes(rng)), any_int64(rng)};
        std::optional<Job> back = parse_job(format_job(job));
        ASSERT_TRUE(back);
        ASSERT_EQ(*back, job);
    }
}

TEST(QueueSchemaProperty, ResultsRoundTrip)
{
    Rng rng(3);
    for (int i = 0; i < cases; ++i) {
        Result r = any_result(rng);
        std::string text = format_result(r);
        std::optional<Result> back = parse_result(text);
        ASSERT_TRUE(back) << text;
        ASSERT_EQ(*back, canonical(r)) << text;
        ASSERT_EQ(format_result(*back), text);
        // What the waiting clients get is the registry's JSON error.
        if (!r.ok) {
            std::string body = result_error_json(*back);
            JsonPtr j(json_loadb(body.data(), body.size(), 0, nullptr));
            ASSERT_TRUE(j) << body;
        }
    }
}

TEST(QueueSchemaProperty, ValidTextResultsRoundTripExactly)
{
    Rng rng(4);
    for (int i = 0; i < cases; ++i) {
        Result r = canonical(any_result(rng));
        std::optional<Result> back = parse_result(format_result(r));
        ASSERT_TRUE(back);
        ASSERT_EQ(*back, r);
    }
}

TEST(QueueSchemaProperty, RefusedKeysAreRefusedByBoth)
{
    Rng rng(5);
    for (int i = 0; i < cases; ++i) {
        std::string key = bad_key(rng);
        Job job{key, "a", "b", 1};
        EXPECT_THROW(format_job(job), std::invalid_argument);
        Result r = failure_result(key, "m", "d");
        EXPECT_THROW(format_result(r), std::invalid_argument);
        // The same records written by hand: the reader refuses them.
        JsonPtr k(lossy_json_string(key));
        std::string quoted = json_dump(k.get(), JSON_ENCODE_ANY);
        EXPECT_FALSE(parse_job("{\"v\":1,\"key\":" + quoted +
                               ",\"name\":\"a\",\"tag\":\"b\","
                               "\"enqueued_ms\":1}"));
        EXPECT_FALSE(
            parse_result("{\"v\":1,\"key\":" + quoted + ",\"ok\":true}"));
    }
}

} // namespace
} // namespace nixery::queue
