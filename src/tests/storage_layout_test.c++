// Index entries: format_index_entry() writes only what parse_index_entry()
// reads, over generated entries (a seeded PRNG, boundary numbers), and
// refuses what the reader would refuse.
#include "storage_layout.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

namespace nixery {
namespace {

using Rng = std::mt19937_64;

constexpr std::uint64_t max_size = 9'999'999'999'999'999'999u; // 10^19 - 1
constexpr std::int64_t max_expires = std::numeric_limits<std::int64_t>::max();

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
    static constexpr std::uint64_t edges[] = {0,
                                              1,
                                              9,
                                              10,
                                              4096,
                                              (std::uint64_t(1) << 32),
                                              (std::uint64_t(1) << 63),
                                              max_size - 1,
                                              max_size};
    return rng() % 3 ? rng() % (max_size + 1) : edges[rng() % std::size(edges)];
}

std::int64_t any_expires(Rng& rng)
{
    static constexpr std::int64_t edges[] = {0, 1, 1700000000, max_expires - 1,
                                             max_expires};
    return rng() % 3 ? static_cast<std::int64_t>(rng() >> 1)
                     : edges[rng() % std::size(edges)];
}

// Half of them with lists (version 2 entries).
IndexEntry any_entry(Rng& rng)
{
    IndexEntry e{hex64(rng), any_size(rng), hex64(rng), any_size(rng),
                 any_expires(rng)};
    if (rng() % 2) {
        e.set(ManifestKind::docker_list, hex64(rng), any_size(rng));
        e.set(ManifestKind::oci_index, hex64(rng), any_size(rng));
    }
    return e;
}

// The text an unchecking writer would produce for `e`.
std::string by_hand(const IndexEntry& e)
{
    bool lists = !e.docker_list_hex.empty() || !e.oci_index_hex.empty();
    std::string text = std::string("nixery-index-v") + (lists ? "2" : "1") +
                       "\ndocker sha256:" + e.docker_hex + " " +
                       std::to_string(e.docker_size) +
                       "\noci sha256:" + e.oci_hex + " " +
                       std::to_string(e.oci_size) + "\n";
    if (lists) {
        text += "docker-list sha256:" + e.docker_list_hex + " " +
                std::to_string(e.docker_list_size) +
                "\noci-index sha256:" + e.oci_index_hex + " " +
                std::to_string(e.oci_index_size) + "\n";
    }
    return text + "expires " + std::to_string(e.expires) + "\n";
}

constexpr int cases = 10000;

TEST(IndexEntry, FormatIsTheDocumentedText)
{
    IndexEntry e{std::string(64, 'a'), 123, std::string(64, 'b'), 456,
                 1700000000};
    EXPECT_EQ(format_index_entry(e), "nixery-index-v1\n"
                                     "docker sha256:" +
                                         std::string(64, 'a') +
                                         " 123\n"
                                         "oci sha256:" +
                                         std::string(64, 'b') +
                                         " 456\n"
                                         "expires 1700000000\n");
}

TEST(IndexEntry, ListsMakeAVersionTwoEntry)
{
    IndexEntry e{std::string(64, 'a'), 123, std::string(64, 'b'), 456, 0};
    e.set(ManifestKind::docker_list, std::string(64, 'c'), 78);
    e.set(ManifestKind::oci_index, std::string(64, 'd'), 90);
    std::string text = format_index_entry(e);
    EXPECT_EQ(text, "nixery-index-v2\n"
                    "docker sha256:" +
                        std::string(64, 'a') +
                        " 123\n"
                        "oci sha256:" +
                        std::string(64, 'b') +
                        " 456\n"
                        "docker-list sha256:" +
                        std::string(64, 'c') +
                        " 78\n"
                        "oci-index sha256:" +
                        std::string(64, 'd') +
                        " 90\n"
                        "expires 0\n");
    std::optional<IndexEntry> back = parse_index_entry(text);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->has_lists());
    EXPECT_EQ(back->hex(ManifestKind::oci_index), std::string(64, 'd'));
    EXPECT_EQ(back->size(ManifestKind::docker_list), 78u);
    // The version line says which lines follow: no mixing.
    std::string v1 = text;
    v1[14] = '1';
    EXPECT_FALSE(parse_index_entry(v1));
    std::string v2 = format_index_entry(
        IndexEntry{std::string(64, 'a'), 1, std::string(64, 'b'), 2, 0});
    v2[14] = '2';
    EXPECT_FALSE(parse_index_entry(v2));
    // The lines in another order are refused too.
    std::string swapped = by_hand(e);
    std::size_t d = swapped.find("docker-list"), o = swapped.find("oci-index");
    std::string dl = swapped.substr(d, o - d);
    swapped.erase(d, o - d);
    swapped.insert(swapped.find("expires"), dl);
    EXPECT_FALSE(parse_index_entry(swapped));
}

TEST(IndexEntry, LongestVersionTwoEntryFits)
{
    IndexEntry e{std::string(64, 'f'), max_size, std::string(64, 'f'), max_size,
                 max_expires};
    e.set(ManifestKind::docker_list, std::string(64, 'f'), max_size);
    e.set(ManifestKind::oci_index, std::string(64, 'f'), max_size);
    std::string text = format_index_entry(e);
    EXPECT_EQ(text.size(), 445u);
    EXPECT_LE(text.size(), max_index_entry_size);
    EXPECT_EQ(parse_index_entry(text), e);
}

TEST(IndexEntry, GeneratedEntriesRoundTrip)
{
    Rng rng(11);
    for (int i = 0; i < cases; ++i) {
        IndexEntry e = any_entry(rng);
        std::string text = format_index_entry(e);
        ASSERT_EQ(text, by_hand(e));
        ASSERT_LE(text.size(), max_index_entry_size);
        std::optional<IndexEntry> back = parse_index_entry(text);
        ASSERT_TRUE(back) << text;
        ASSERT_EQ(*back, e) << text;
    }
}

TEST(IndexEntry, LargestValuesRoundTrip)
{
    IndexEntry e{std::string(64, 'f'), max_size, std::string(64, '0'), max_size,
                 max_expires};
    std::optional<IndexEntry> back = parse_index_entry(format_index_entry(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, e);
}

TEST(IndexEntry, WhatTheWriterRefusesTheReaderRefuses)
{
    Rng rng(12);
    for (int i = 0; i < cases; ++i) {
        IndexEntry e = any_entry(rng);
        switch (i % 8) {
        case 6: // one list without the other
            e.set(ManifestKind::oci_index, hex64(rng), 1);
            e.docker_list_hex.clear();
            break;
        case 7: // a list's digest not 64 lowercase hex digits
            e.set(ManifestKind::docker_list, hex64(rng), 1);
            e.set(ManifestKind::oci_index, hex64(rng), 1);
            e.docker_list_hex[rng() % 64] = 'G';
            break;
        case 0: // a negative expiry
            e.expires = -1 - static_cast<std::int64_t>(rng() >> 1);
            break;
        case 1: // a size of 10^19 or more
            e.docker_size = max_size + 1 + rng() % (~max_size);
            break;
        case 2:
            e.oci_size = i % 12 == 2 ? std::numeric_limits<std::uint64_t>::max()
                                     : max_size + 1;
            break;
        case 3: // not 64 lowercase hex digits
            e.docker_hex[rng() % 64] = "ABCDEFg: \n"[rng() % 10];
            break;
        case 4:
            e.oci_hex.resize(rng() % 64);
            break;
        default:
            e.oci_hex.push_back('0');
            break;
        }
        EXPECT_THROW(format_index_entry(e), std::invalid_argument) << i;
        EXPECT_FALSE(parse_index_entry(by_hand(e))) << by_hand(e);
    }
    IndexEntry e{std::string(64, 'a'), 1, std::string(64, 'b'), 1,
                 std::numeric_limits<std::int64_t>::min()};
    EXPECT_THROW(format_index_entry(e), std::invalid_argument);
    EXPECT_FALSE(parse_index_entry(by_hand(e)));
}

TEST(IndexEntry, ReaderRefusesDamagedText)
{
    Rng rng(13);
    for (int i = 0; i < cases; ++i) {
        std::string text = format_index_entry(any_entry(rng));
        std::string bad = text;
        switch (i % 3) {
        case 0: // cut anywhere
            bad.resize(rng() % text.size());
            break;
        case 1: // one byte changed to one the grammar has no place for
            bad[rng() % bad.size()] = "\0\r+X\t/!"[rng() % 7];
            break;
        default: // trailing text
            bad += "x";
            break;
        }
        EXPECT_FALSE(parse_index_entry(bad)) << bad;
    }
}

} // namespace
} // namespace nixery
