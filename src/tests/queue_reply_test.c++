#include "queue_reply.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace nixery::queue {
namespace {

struct ReplyDeleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// One reply read by hiredis's reader from RESP bytes, as the module reads.
Reply read(std::string_view resp)
{
    redisReader* reader = queue::create_reply_reader();
    EXPECT_EQ(redisReaderFeed(reader, resp.data(), resp.size()), REDIS_OK);
    void* reply = nullptr;
    EXPECT_EQ(redisReaderGetReply(reader, &reply), REDIS_OK);
    redisReaderFree(reader);
    return Reply(static_cast<redisReply*>(reply));
}

TEST(QueueReply, Text)
{
    EXPECT_EQ(reply_text(read("$3\r\nabc\r\n").get()), "abc");
    EXPECT_EQ(reply_text(read("+OK\r\n").get()), "OK");
    EXPECT_EQ(reply_text(read("-ERR no\r\n").get()), "ERR no");
    EXPECT_EQ(reply_text(read(":12\r\n").get()), "");
    EXPECT_EQ(reply_text(read("$-1\r\n").get()), "");
    EXPECT_EQ(reply_text(nullptr), "");
}

TEST(QueueReply, Announcements)
{
    auto sub = read("*3\r\n$9\r\nsubscribe\r\n$4\r\ndone\r\n:1\r\n");
    EXPECT_EQ(read_announcement(sub.get()).kind,
              Announcement::Kind::subscribed);
    auto msg = read("*3\r\n$7\r\nmessage\r\n$4\r\ndone\r\n$2\r\n{}\r\n");
    Announcement a = read_announcement(msg.get());
    EXPECT_EQ(a.kind, Announcement::Kind::message);
    EXPECT_EQ(a.text, "{}");
    // A message whose text is not a string: nothing to parse.
    auto odd = read("*3\r\n$7\r\nmessage\r\n$4\r\ndone\r\n*0\r\n");
    a = read_announcement(odd.get());
    EXPECT_EQ(a.kind, Announcement::Kind::message);
    EXPECT_EQ(a.text, "");
    EXPECT_EQ(
        read_announcement(read("*2\r\n$7\r\nmessage\r\n:1\r\n").get()).kind,
        Announcement::Kind::other);
    EXPECT_EQ(read_announcement(read("$7\r\nmessage\r\n").get()).kind,
              Announcement::Kind::other);
    EXPECT_EQ(
        read_announcement(read("*3\r\n$4\r\npong\r\n:1\r\n:2\r\n").get()).kind,
        Announcement::Kind::other);
}

TEST(QueueReply, EnqueueAnswers)
{
    // The texts are views into the replies: keep them alive.
    auto refused = read("-NOSCRIPT x\r\n");
    EnqueueAnswer a = read_enqueue_answer(refused.get());
    EXPECT_EQ(a.kind, EnqueueAnswer::Kind::refused);
    EXPECT_EQ(a.text, "NOSCRIPT x");
    auto result = read("*2\r\n$6\r\nresult\r\n$3\r\nabc\r\n");
    a = read_enqueue_answer(result.get());
    EXPECT_EQ(a.kind, EnqueueAnswer::Kind::result);
    EXPECT_EQ(a.text, "abc");
    auto full = read("*2\r\n$4\r\nfull\r\n$3\r\n100\r\n");
    a = read_enqueue_answer(full.get());
    EXPECT_EQ(a.kind, EnqueueAnswer::Kind::full);
    EXPECT_EQ(a.text, "100");
    auto queued = read("*2\r\n$6\r\nqueued\r\n$3\r\n1-0\r\n");
    a = read_enqueue_answer(queued.get());
    EXPECT_EQ(a.kind, EnqueueAnswer::Kind::queued);
    EXPECT_EQ(a.text, "1-0");
    for (const char* other :
         {"*3\r\n$6\r\nqueued\r\n$1\r\na\r\n:1\r\n",
          "*2\r\n$7\r\nwaiting\r\n$3\r\n1-0\r\n",
          "*3\r\n$6\r\nresult\r\n$1\r\na\r\n:1\r\n", "*2\r\n*0\r\n$1\r\na\r\n",
          "*3\r\n$4\r\nfull\r\n$1\r\n1\r\n:1\r\n", "+OK\r\n", "$-1\r\n"}) {
        auto r = read(other);
        EXPECT_EQ(read_enqueue_answer(r.get()).kind, EnqueueAnswer::Kind::other)
            << other;
    }
    EXPECT_EQ(read_enqueue_answer(nullptr).kind, EnqueueAnswer::Kind::other);
}

// Found by the resp fuzzer: hiredis allocates an array's announced size at
// once, so 13 bytes asked for 7.5 GB. The module's reader refuses arrays
// longer than max_reply_elements as a protocol error.
TEST(QueueReply, LongArraysAreProtocolErrors)
{
    for (std::string resp :
         {"*939999999\r\n", "*1025\r\n", "*1\r\n*2147483647\r\n"}) {
        redisReader* reader = create_reply_reader();
        ASSERT_NE(reader, nullptr);
        EXPECT_EQ(redisReaderFeed(reader, resp.data(), resp.size()), REDIS_OK);
        void* reply = nullptr;
        EXPECT_EQ(redisReaderGetReply(reader, &reply), REDIS_ERR) << resp;
        EXPECT_EQ(reply, nullptr);
        redisReaderFree(reader);
    }
    // At the limit, and as the module's replies come, arrays still read.
    std::string at_limit = "*1024\r\n";
    for (int i = 0; i < max_reply_elements; ++i) {
        at_limit += ":1\r\n";
    }
    auto r = read(at_limit);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->elements, 1024u);
}

} // namespace
} // namespace nixery::queue
