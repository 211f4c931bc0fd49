// Layer cache entries: format_layer_cache_entry() writes only what
// parse_layer_cache_entry() reads, over generated entries (a seeded PRNG,
// boundary numbers), and refuses what the reader would refuse.
#include "storage/layer_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

namespace nixery {
namespace {

using Rng = std::mt19937_64;

constexpr std::uint64_t max_size = std::numeric_limits<std::int64_t>::max();

std::string hex64(Rng& rng)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(64, '0');
    for (char& c : s) {
        c = digits[rng() % 16];
    }
    return s;
}

std::uint64_t any_size(Rng& rng)
{
    static constexpr std::uint64_t edges[] = {1,
                                              2,
                                              4096,
                                              std::uint64_t(1) << 32,
                                              (std::uint64_t(1) << 53) + 1,
                                              max_size - 1,
                                              max_size};
    return rng() % 3 ? 1 + rng() % max_size : edges[rng() % std::size(edges)];
}

std::size_t any_paths(Rng& rng)
{
    static constexpr std::size_t edges[] = {0, 1, 1000, max_size};
    return rng() % 2 ? rng() % (max_size + 1) : edges[rng() % std::size(edges)];
}

// The text an unchecking writer would produce.
std::string by_hand(const BlobInfo& b, std::size_t paths)
{
    return "{\"version\":1,\"digest\":\"sha256:" + b.digest_hex +
           "\",\"diff_id\":\"sha256:" + b.diff_id_hex +
           "\",\"size\":" + std::to_string(b.size) +
           ",\"paths\":" + std::to_string(paths) + "}\n";
}

constexpr int cases = 10000;

TEST(LayerCacheEntry, GeneratedEntriesRoundTrip)
{
    Rng rng(21);
    for (int i = 0; i < cases; ++i) {
        BlobInfo b{hex64(rng), hex64(rng), any_size(rng)};
        std::size_t paths = any_paths(rng);
        std::string text = format_layer_cache_entry(b, paths);
        // The file format is unchanged: the same bytes as ever.
        ASSERT_EQ(text, by_hand(b, paths));
        std::optional<BlobInfo> back = parse_layer_cache_entry(text);
        ASSERT_TRUE(back) << text;
        ASSERT_EQ(*back, b) << text;
    }
}

TEST(LayerCacheEntry, WhatTheWriterRefusesTheReaderRefuses)
{
    Rng rng(22);
    for (int i = 0; i < cases; ++i) {
        BlobInfo b{hex64(rng), hex64(rng), any_size(rng)};
        std::size_t paths = any_paths(rng);
        switch (i % 6) {
        case 0: // empty: a layer is never 0 bytes of gzip
            b.size = 0;
            break;
        case 1: // beyond a JSON integer (jansson's int64)
            b.size = max_size + 1 + rng() % max_size;
            break;
        case 2:
            paths = max_size + 1 + rng() % max_size;
            break;
        case 3: // not 64 lowercase hex digits
            b.digest_hex[rng() % 64] = "ABCDEFg:\"\\"[rng() % 10];
            break;
        case 4:
            b.diff_id_hex.resize(rng() % 64);
            break;
        default:
            b.diff_id_hex += "0";
            break;
        }
        EXPECT_THROW(format_layer_cache_entry(b, paths), std::invalid_argument)
            << i;
        EXPECT_FALSE(parse_layer_cache_entry(by_hand(b, paths)))
            << by_hand(b, paths);
    }
}

} // namespace
} // namespace nixery
