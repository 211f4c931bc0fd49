// What the module makes of the replies Redis sends it on the build queue's
// two connections (queue_schema.h, docs/redis.md).
//
// The module reads RESP with hiredis's I/O-free reader on nginx's event loop
// (src/ngx/redis_conn.h); Redis, or whatever answers on its port, decides
// every byte of those replies. Telling an announcement from a subscription
// confirmation, and a stored result from "queued" or a refusal, needs no
// nginx: it lives here, in the core, so that the unit tests and the fuzzers
// (fuzz/) feed it replies made by hiredis's reader from arbitrary bytes.
// The texts returned are views into the reply, valid while it lives.
#pragma once

#include <hiredis/hiredis.h>

#include <string_view>

namespace nixery::queue {

// The most elements a reply array may announce. The module's replies have
// two or three; hiredis's reader (0.14, Debian 12's) allocates room for
// the announced count at once, so "*939999999\r\n", 13 bytes from whatever
// answers on Redis's port, made a worker ask for 7.5 GB (found by the resp
// fuzzer, fuzz/corpus/resp/). A longer array is a protocol error.
inline constexpr int max_reply_elements = 1024;

// A hiredis reader whose arrays are bounded by max_reply_elements: a
// longer one makes redisReaderGetReply() fail (REDIS_ERR). nullptr when out
// of memory; free it with redisReaderFree().
redisReader* create_reply_reader() noexcept;

// The bytes of a string, status or error reply; empty for any other reply
// (nil, integer, array...) and for null.
std::string_view reply_text(const redisReply* reply) noexcept;

// A reply on the subscriber connection.
struct Announcement {
    enum class Kind {
        other,      // anything else: ignored
        subscribed, // ["subscribe", <channel>, <count>]
        message,    // ["message", <channel>, <text>]: a build result
    };
    Kind kind = Kind::other;
    std::string_view text; // for message: the result, for parse_result()
};
Announcement read_announcement(const redisReply* reply) noexcept;

// The enqueue script's answer on the command connection.
struct EnqueueAnswer {
    enum class Kind {
        other,   // {"waiting", id} or anything else: wait
        queued,  // {"queued", id}: this call added the job; wait
        refused, // an error reply: `text` is Redis's message
        result,  // {"result", <text>}: a result is stored, answer from it
        full,    // {"full", <length>}: the queue is at its maximum length
    };
    Kind kind = Kind::other;
    // result: the result; full: the length; queued: the stream entry id
    std::string_view text;
};
EnqueueAnswer read_enqueue_answer(const redisReply* reply) noexcept;

} // namespace nixery::queue
