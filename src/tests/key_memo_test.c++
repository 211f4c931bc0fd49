#include "key_memo.h"

#include <gtest/gtest.h>

namespace nixery {
namespace {

TEST(KeyMemo, RemembersByNameAndTag)
{
    KeyMemo memo(10);
    EXPECT_EQ(memo.find("hello", "latest"), nullptr);
    memo.put("hello", "latest", "k1");
    memo.put("hello", "v1", "k2");
    ASSERT_NE(memo.find("hello", "latest"), nullptr);
    EXPECT_EQ(*memo.find("hello", "latest"), "k1");
    EXPECT_EQ(*memo.find("hello", "v1"), "k2");
    // Name and tag are kept apart: "a/b" + "c" is not "a" + "b/c" etc.
    memo.put("ab", "c", "k3");
    EXPECT_EQ(memo.find("a", "bc"), nullptr);
    memo.put("hello", "latest", "k4");
    EXPECT_EQ(*memo.find("hello", "latest"), "k4");
}

TEST(KeyMemo, BoundedAndDisabled)
{
    KeyMemo memo(2);
    memo.put("a", "t", "1");
    memo.put("b", "t", "2");
    EXPECT_EQ(memo.size(), 2u);
    memo.put("c", "t", "3"); // full: forget everything, keep the new one
    EXPECT_EQ(memo.size(), 1u);
    EXPECT_EQ(memo.find("a", "t"), nullptr);
    EXPECT_EQ(*memo.find("c", "t"), "3");

    KeyMemo off(0);
    off.put("a", "t", "1");
    EXPECT_EQ(off.find("a", "t"), nullptr);
}

} // namespace
} // namespace nixery
