#include "tag_list.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace nixery {
namespace {

using Tags = std::vector<std::string>;
using Views = std::vector<std::string_view>;

TagsQuery query(std::string_view args)
{
    TagsQuery q = parse_tags_query(args);
    EXPECT_EQ(q.error, "") << args;
    return q;
}

TEST(TagList, ListableRefs)
{
    for (std::string_view ok :
         {"main", "feature", "v1.0", "release-24.11", "_x", "Feature", "latest",
          // 40 characters but not lowercase hex
          "0123456789ABCDEF0123456789abcdef01234567"}) {
        EXPECT_TRUE(listable_ref(ok)) << ok;
    }
    for (std::string_view bad :
         {"", "feature/x", ".hidden", "-x", "a b", "caf\xc3\xa9",
          // the manifest route reads 40 lowercase hex digits as a commit
          "0123456789abcdef0123456789abcdef01234567"}) {
        EXPECT_FALSE(listable_ref(bad)) << bad;
    }
    EXPECT_TRUE(listable_ref(std::string(128, 'a')));
    EXPECT_FALSE(listable_ref(std::string(129, 'a')));
}

TEST(TagList, RecordRoundTrip)
{
    std::string text =
        format_tags_record({"v1.0", "main", "feature/x", "feature", "main",
                            "0123456789abcdef0123456789abcdef01234567"},
                           "host-1", 1764075600123);
    EXPECT_EQ(text, "{\"v\":1,\"helper\":\"host-1\",\"listed_ms\":"
                    "1764075600123,\"tags\":[\"feature\",\"main\",\"v1.0\"]}");
    auto names = parse_tags_record(text);
    ASSERT_TRUE(names.has_value());
    EXPECT_EQ(*names, (Tags{"feature", "main", "v1.0"}));
    EXPECT_EQ(format_tags_record({}, "h", 0),
              "{\"v\":1,\"helper\":\"h\",\"listed_ms\":0,\"tags\":[]}");
}

TEST(TagList, ReaderSkipsWhatIsNoTag)
{
    auto names = parse_tags_record(
        "{\"v\":1,\"tags\":[\"b\",\"a\",\"b\",7,null,\"x/y\",\"\",\"../x\"],"
        "\"other\":true}");
    ASSERT_TRUE(names.has_value());
    EXPECT_EQ(*names, (Tags{"a", "b"}));
}

TEST(TagList, ReaderRefusesOtherRecords)
{
    for (std::string_view bad :
         {"", "null", "[]", "{}", "{\"v\":2,\"tags\":[]}",
          "{\"v\":\"1\",\"tags\":[]}", "{\"v\":1}", "{\"v\":1,\"tags\":\"a\"}",
          "{\"v\":1,\"tags\":[]", "\"latest\""}) {
        EXPECT_FALSE(parse_tags_record(bad).has_value()) << bad;
    }
    std::string big = "{\"v\":1,\"tags\":[\"" +
                      std::string(max_tags_record_size, 'a') + "\"]}";
    EXPECT_FALSE(parse_tags_record(big).has_value());
}

TEST(TagList, AtMostMaxListedTags)
{
    std::vector<std::string> many;
    for (std::size_t i = 0; i < max_listed_tags + 5; ++i) {
        many.push_back("t" + std::to_string(i));
    }
    auto names = parse_tags_record(format_tags_record(many, "h", 1));
    ASSERT_TRUE(names.has_value());
    EXPECT_EQ(names->size(), max_listed_tags);

    std::string text = "{\"v\":1,\"tags\":[";
    for (std::size_t i = 0; i < max_listed_tags + 5; ++i) {
        text += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
    }
    text += "]}";
    names = parse_tags_record(text);
    ASSERT_TRUE(names.has_value());
    EXPECT_EQ(names->size(), max_listed_tags);
}

TEST(TagList, ServedTagsAlwaysHaveLatest)
{
    EXPECT_EQ(served_tags({}), (Tags{"latest"}));
    EXPECT_EQ(served_tags({"main", "latest", "B", "v1"}),
              (Tags{"B", "latest", "main", "v1"}));
}

TEST(TagList, Query)
{
    TagsQuery q = query("");
    EXPECT_FALSE(q.has_n);
    EXPECT_EQ(q.last, "");
    q = query("n=2&last=v1.0");
    EXPECT_TRUE(q.has_n);
    EXPECT_EQ(q.n, 2u);
    EXPECT_EQ(q.last, "v1.0");
    q = query("last=feature&x=y&n=0");
    EXPECT_TRUE(q.has_n);
    EXPECT_EQ(q.n, 0u);
    EXPECT_EQ(q.last, "feature");
    // Empty values are no values; the first of a repeat counts.
    q = query("n=&last=");
    EXPECT_FALSE(q.has_n);
    EXPECT_EQ(q.last, "");
    q = query("n=3&n=x&last=a&last=b");
    EXPECT_EQ(q.n, 3u);
    EXPECT_EQ(q.last, "a");
    // %XX decoding, and numbers past the largest size saturate.
    EXPECT_EQ(query("last=v1%2E0").last, "v1.0");
    EXPECT_EQ(query("n=%31%30").n, 10u);
    EXPECT_EQ(query("n=99999999999999999999999999999").n,
              std::numeric_limits<std::size_t>::max());
    EXPECT_EQ(query("artifactType=x&nn=1").has_n, false);
}

TEST(TagList, BadQuery)
{
    for (std::string_view bad : {"n=-1", "n=1.5", "n=abc", "n=+2", "n=0x10",
                                 "n=1%20", "last=a/b", "last=.x", "last=%2e%2e",
                                 "last="
                                 "a%",
                                 "n=2&last="
                                 "caf%C3%A9"}) {
        EXPECT_NE(parse_tags_query(bad).error, "") << bad;
    }
    EXPECT_NE(parse_tags_query("n=x").error.find("non-negative integer"),
              std::string::npos);
    EXPECT_NE(parse_tags_query("last=a/b").error.find("last"),
              std::string::npos);
}

TEST(TagList, Pages)
{
    Tags tags{"feature", "latest", "main", "v1.0"};
    auto page = [&](std::string_view args) {
        return page_tags(tags, query(args));
    };
    TagsPage p = page("");
    EXPECT_EQ(p.tags, (Views{"feature", "latest", "main", "v1.0"}));
    EXPECT_FALSE(p.more);
    p = page("n=2");
    EXPECT_EQ(p.tags, (Views{"feature", "latest"}));
    EXPECT_TRUE(p.more);
    p = page("n=2&last=latest");
    EXPECT_EQ(p.tags, (Views{"main", "v1.0"}));
    EXPECT_FALSE(p.more);
    p = page("n=4");
    EXPECT_EQ(p.tags.size(), 4u);
    EXPECT_FALSE(p.more);
    p = page("n=100");
    EXPECT_EQ(p.tags.size(), 4u);
    EXPECT_FALSE(p.more);
    // n = 0: an empty list and no Link, whatever remains.
    p = page("n=0");
    EXPECT_TRUE(p.tags.empty());
    EXPECT_FALSE(p.more);
    // last need not be listed: the tags after it in byte order.
    p = page("last=lat");
    EXPECT_EQ(p.tags, (Views{"latest", "main", "v1.0"}));
    p = page("last=v1.0");
    EXPECT_TRUE(p.tags.empty());
    EXPECT_FALSE(p.more);
    p = page("last=zzz&n=1");
    EXPECT_TRUE(p.tags.empty());
    EXPECT_FALSE(p.more);
    p = page("last=A&n=1");
    EXPECT_EQ(p.tags, (Views{"feature"}));
    EXPECT_TRUE(p.more);
    // Byte order: upper case before lower case.
    Tags mixed = served_tags({"Zeta", "alpha", "_x", "9"});
    EXPECT_EQ(page_tags(mixed, query("n=2")).tags, (Views{"9", "Zeta"}));
    EXPECT_EQ(page_tags(mixed, query("n=2&last=Zeta")).tags,
              (Views{"_x", "alpha"}));
}

TEST(TagList, WalkingTheLinksListsEveryTagOnce)
{
    Tags tags = served_tags({"a", "b", "c", "d", "e", "f", "g"});
    for (std::size_t n = 1; n <= tags.size() + 1; ++n) {
        std::vector<std::string> seen;
        TagsQuery q = query("n=" + std::to_string(n));
        for (int pages = 0; pages < 20; ++pages) {
            TagsPage p = page_tags(tags, q);
            for (std::string_view t : p.tags) {
                seen.emplace_back(t);
            }
            if (!p.more) {
                break;
            }
            std::string link = tags_next_link("x", n, p.tags.back());
            std::string prefix = "</v2/x/tags/list?";
            ASSERT_EQ(link.substr(0, prefix.size()), prefix);
            std::size_t end = link.find('>');
            q = query(link.substr(prefix.size(), end - prefix.size()));
        }
        EXPECT_EQ(seen, tags) << "n=" << n;
    }
}

TEST(TagList, Body)
{
    EXPECT_EQ(tags_list_json("shell/git", {"latest"}),
              "{\"name\":\"shell/git\",\"tags\":[\"latest\"]}\n");
    EXPECT_EQ(tags_list_json("hello", {}),
              "{\"name\":\"hello\",\"tags\":[]}\n");
    EXPECT_EQ(tags_list_json("hello", {"feature", "latest"}),
              "{\"name\":\"hello\",\"tags\":[\"feature\",\"latest\"]}\n");
}

TEST(TagList, Link)
{
    EXPECT_EQ(tags_next_link("shell/git", 2, "feature"),
              "</v2/shell/git/tags/list?n=2&last=feature>; rel=\"next\"");
}

} // namespace
} // namespace nixery
