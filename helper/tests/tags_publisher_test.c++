#include "queue/tags_publisher.h"

#include "queue/redis.h"
#include "tag_list.h"

#include "redis_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace nixery::queue {
namespace {

using namespace std::chrono_literals;
using Tags = std::vector<std::string>;

std::string stored(test::RedisServer& redis)
{
    Reply r = redis.client().command({"GET", std::string(tags_key)});
    return reply_is_nil(r.get()) ? std::string() : reply_string(r.get());
}

long long ttl(test::RedisServer& redis)
{
    return redis.client().command({"TTL", std::string(tags_key)})->integer;
}

TEST(TagsPublisher, PublishesTheListableNamesWithATtlOfThreePeriods)
{
    test::RedisServer redis;
    ASSERT_TRUE(redis.up());
    TagsPublisher p({redis.address(), "h-1", 30s, [] {
                         return Tags{"main", "feature/x", "v1.0", "feature"};
                     }});
    ASSERT_TRUE(p.publish_once());
    std::string text = stored(redis);
    auto names = parse_tags_record(text);
    ASSERT_TRUE(names.has_value()) << text;
    EXPECT_EQ(*names, (Tags{"feature", "main", "v1.0"}));
    EXPECT_NE(text.find("\"helper\":\"h-1\""), std::string::npos);
    EXPECT_GT(ttl(redis), 80);
    EXPECT_LE(ttl(redis), 90);
    EXPECT_EQ(p.published(), 1u);
}

TEST(TagsPublisher, AFailedListingKeepsTheLastRecord)
{
    test::RedisServer redis;
    ASSERT_TRUE(redis.up());
    bool fail = false;
    TagsPublisher p({redis.address(), "h", 30s, [&fail] {
                         if (fail) {
                             throw std::runtime_error("git ls-remote failed");
                         }
                         return Tags{"main"};
                     }});
    ASSERT_TRUE(p.publish_once());
    std::string before = stored(redis);
    fail = true;
    EXPECT_FALSE(p.publish_once());
    EXPECT_EQ(stored(redis), before);
    EXPECT_EQ(p.published(), 1u);
}

TEST(TagsPublisher, RedisDownIsNoCrash)
{
    TagsPublisher p({"unix:/nonexistent/redis.sock", "h", 30s,
                     [] { return Tags{"main"}; }});
    EXPECT_FALSE(p.publish_once());
}

TEST(TagsPublisher, TheThreadPublishesAtStartAndEveryPeriod)
{
    test::RedisServer redis;
    ASSERT_TRUE(redis.up());
    std::atomic<int> calls{0};
    TagsPublisher p({redis.address(), "h", 1s, [&calls] {
                         int n = ++calls;
                         return n == 1 ? Tags{"main", "gone"} : Tags{"main"};
                     }});
    p.start();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (p.published() < 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_GE(p.published(), 1u);
    EXPECT_LE(ttl(redis), 3);
    // The next listing, a period later, no longer has the branch.
    while (p.published() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_GE(p.published(), 2u);
    EXPECT_EQ(parse_tags_record(stored(redis)), (Tags{"main"}));
    p.stop();
    EXPECT_GE(calls.load(), 2);
}

} // namespace
} // namespace nixery::queue
