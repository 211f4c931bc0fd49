// The shapes of the jobs stream's replies (XREADGROUP, XAUTOCLAIM), parsed
// from RESP bytes by hiredis's own reader as they would come off the wire.
#include "queue/stream_reply.h"

#include "queue/redis.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>

namespace nixery::queue {
namespace {

Reply parse(const std::string& resp)
{
    redisReader* reader = redisReaderCreate();
    EXPECT_NE(reader, nullptr);
    EXPECT_EQ(redisReaderFeed(reader, resp.data(), resp.size()), REDIS_OK);
    void* reply = nullptr;
    EXPECT_EQ(redisReaderGetReply(reader, &reply), REDIS_OK);
    redisReaderFree(reader);
    EXPECT_NE(reply, nullptr) << "incomplete RESP in the test";
    return Reply(static_cast<redisReply*>(reply));
}

// [[stream, [entry]]] around one entry's RESP.
std::string read_reply(const std::string& entry)
{
    return "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n*1\r\n" + entry;
}

const std::string good_entry = "*2\r\n$3\r\n1-0\r\n*2\r\n$3\r\njob\r\n$4\r\n"
                               "{\"a\"\r\n";

TEST(StreamReply, ReadGroupEntry)
{
    Reply r = parse(read_reply(good_entry));
    std::optional<StreamEntry> e = read_group_entry(r.get());
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->id, "1-0");
    EXPECT_EQ(e->job_text, "{\"a\"");
}

TEST(StreamReply, EntryWithoutAJobFieldKeepsItsId)
{
    // Still acknowledged (and dropped as malformed) by its id.
    Reply r =
        parse(read_reply("*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"));
    std::optional<StreamEntry> e = read_group_entry(r.get());
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->id, "2-0");
    EXPECT_EQ(e->job_text, "");
    // A deleted entry's fields are nil.
    r = parse(read_reply("*2\r\n$3\r\n3-0\r\n*-1\r\n"));
    e = read_group_entry(r.get());
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->id, "3-0");
}

TEST(StreamReply, OtherShapesAreNoEntry)
{
    // Each of these crashed or misread the helper before the shapes were
    // checked: a stream that is not [name, entries], an entry that is not
    // [id, fields], an id that is not a string.
    for (const char* resp : {
             "$-1\r\n",                            // timeout: nil
             "*-1\r\n",                            // nil array
             "*0\r\n",                             // no stream
             ":1\r\n",                             // an integer
             "+OK\r\n",                            // a status
             "*1\r\n$11\r\nnixery:jobs\r\n",       // stream not array
             "*1\r\n*1\r\n$11\r\nnixery:jobs\r\n", // no entries
             "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n$1\r\nx\r\n", // entries str
             "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n*0\r\n",      // empty list
             "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n*1\r\n$3\r\n1-0\r\n",
             "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n*1\r\n*1\r\n$3\r\n1-0\r\n",
             "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n*1\r\n*2\r\n:1\r\n*0\r\n",
             "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n*1\r\n*2\r\n$0\r\n\r\n*0\r\n",
             "*1\r\n*2\r\n$11\r\nnixery:jobs\r\n*1\r\n*2\r\n*-1\r\n*0\r\n",
             "*2\r\n*0\r\n*0\r\n", // two streams
         }) {
        Reply r = parse(resp);
        EXPECT_FALSE(read_group_entry(r.get()).has_value()) << resp;
    }
    EXPECT_FALSE(read_group_entry(nullptr).has_value());
}

TEST(StreamReply, AutoclaimEntryAndCursor)
{
    std::string cursor = "0-0";
    // Redis 7: [cursor, entries, deleted ids].
    Reply r = parse("*3\r\n$3\r\n5-0\r\n*1\r\n" + good_entry + "*0\r\n");
    std::optional<StreamEntry> e = autoclaim_entry(r.get(), cursor);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->id, "1-0");
    EXPECT_EQ(cursor, "5-0");
    // Nothing to claim: the cursor still moves.
    r = parse("*2\r\n$3\r\n0-0\r\n*0\r\n");
    cursor = "7-0";
    EXPECT_FALSE(autoclaim_entry(r.get(), cursor).has_value());
    EXPECT_EQ(cursor, "0-0");
    // Shapes that are not [cursor, entries]: no entry, cursor untouched.
    for (const char* resp : {"*-1\r\n", "*1\r\n$3\r\n0-0\r\n",
                             "*2\r\n:5\r\n*0\r\n", "-ERR no\r\n"}) {
        cursor = "9-0";
        r = parse(resp);
        EXPECT_FALSE(autoclaim_entry(r.get(), cursor).has_value()) << resp;
        EXPECT_EQ(cursor, "9-0") << resp;
    }
    // A claimed entry of the wrong shape.
    cursor = "0-0";
    r = parse("*2\r\n$3\r\n0-0\r\n*1\r\n*3\r\n$3\r\n1-0\r\n*0\r\n*0\r\n");
    EXPECT_FALSE(autoclaim_entry(r.get(), cursor).has_value());
}

TEST(StreamReply, PendingDeliveries)
{
    Reply r = parse("*1\r\n*4\r\n$3\r\n1-0\r\n$1\r\nh\r\n:5000\r\n:3\r\n");
    EXPECT_EQ(pending_deliveries(r.get()), 3);
    for (const char* resp : {
             "*0\r\n",                                     // not pending
             "*-1\r\n", ":3\r\n",                          // not arrays
             "*1\r\n$3\r\n1-0\r\n",                        // entry a string
             "*1\r\n*3\r\n$3\r\n1-0\r\n$1\r\nh\r\n:1\r\n", // short
             "*1\r\n*4\r\n$3\r\n1-0\r\n$1\r\nh\r\n:1\r\n$1\r\n3\r\n",
             "*2\r\n*0\r\n*0\r\n", // two entries
         }) {
        r = parse(resp);
        EXPECT_FALSE(pending_deliveries(r.get()).has_value()) << resp;
    }
}

} // namespace
} // namespace nixery::queue
