#include "index_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace nixery {
namespace {

IndexEntry entry(char c, std::int64_t expires = 0)
{
    IndexEntry e;
    e.docker_hex = std::string(64, c);
    e.docker_size = 10;
    e.oci_hex = std::string(64, c);
    e.oci_size = 11;
    e.expires = expires;
    return e;
}

TEST(IndexCache, HitWithinValidity)
{
    IndexCache cache(10, 5);
    EXPECT_EQ(cache.find("k", 100), nullptr);
    cache.put("k", entry('a'), 100);
    const IndexEntry* e = cache.find("k", 104);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(*e, entry('a'));
    EXPECT_EQ(cache.find("other", 104), nullptr);
}

TEST(IndexCache, StaleAfterValidity)
{
    IndexCache cache(10, 5);
    cache.put("k", entry('a'), 100);
    EXPECT_EQ(cache.find("k", 105), nullptr);
    EXPECT_EQ(cache.size(), 0u);
    // A clock that went backwards does not keep an entry alive.
    cache.put("k", entry('a'), 100);
    EXPECT_EQ(cache.find("k", 90), nullptr);
}

TEST(IndexCache, NeverPastExpiry)
{
    IndexCache cache(10, 3600);
    cache.put("k", entry('a', 200), 100);
    EXPECT_NE(cache.find("k", 199), nullptr);
    EXPECT_EQ(cache.find("k", 200), nullptr);
}

TEST(IndexCache, PutReplacesAndRefreshes)
{
    IndexCache cache(10, 5);
    cache.put("k", entry('a'), 100);
    cache.put("k", entry('b'), 103);
    EXPECT_EQ(cache.size(), 1u);
    const IndexEntry* e = cache.find("k", 107);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->docker_hex, std::string(64, 'b'));
}

TEST(IndexCache, EvictsLeastRecentlyUsed)
{
    IndexCache cache(2, 60);
    cache.put("a", entry('a'), 0);
    cache.put("b", entry('b'), 0);
    ASSERT_NE(cache.find("a", 1), nullptr); // a is now the most recent
    cache.put("c", entry('c'), 1);
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.find("b", 2), nullptr);
    EXPECT_NE(cache.find("a", 2), nullptr);
    EXPECT_NE(cache.find("c", 2), nullptr);
}

TEST(IndexCache, EraseAndDisabled)
{
    IndexCache cache(2, 60);
    cache.put("a", entry('a'), 0);
    cache.erase("a");
    cache.erase("missing");
    EXPECT_EQ(cache.find("a", 1), nullptr);

    IndexCache off(0, 60);
    off.put("a", entry('a'), 0);
    EXPECT_EQ(off.size(), 0u);
    EXPECT_EQ(off.find("a", 0), nullptr);
}

} // namespace
} // namespace nixery
