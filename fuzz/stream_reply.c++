// The helper's reading of the jobs stream: RESP bytes fed to hiredis's
// reader as they would come from Redis, each reply then read as an
// XREADGROUP, an XAUTOCLAIM and an XPENDING reply
// (helper/queue/stream_reply.h).
// Properties: an entry found has a non-empty id; the cursor is set from an
// XAUTOCLAIM-shaped reply and left alone otherwise; no reply crashes.
#include "fuzz.h"

#include "queue/redis.h"
#include "queue/stream_reply.h"
#include "queue_reply.h"

#include <hiredis/hiredis.h>

#include <string>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    // The helper reads with hiredis's own reader, trusting its Redis with
    // the sizes it announces; bounded here (as the module's reader is) so
    // that the fuzzer's memory goes to the parsing, not to an array of a
    // billion announced elements.
    redisReader* reader = queue::create_reply_reader();
    if (reader == nullptr) {
        return 0;
    }
    if (redisReaderFeed(reader, reinterpret_cast<const char*>(data), size) ==
        REDIS_OK) {
        for (;;) {
            void* reply = nullptr;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK ||
                reply == nullptr) {
                break;
            }
            queue::Reply r(static_cast<redisReply*>(reply));
            auto read = queue::read_group_entry(r.get());
            require(!read || !read->id.empty());
            // The cursor is taken from a [cursor, entries, ...] reply only.
            bool shaped = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
                          r->element[0]->type == REDIS_REPLY_STRING;
            std::string cursor = "before";
            auto claimed = queue::autoclaim_entry(r.get(), cursor);
            require(!claimed || (shaped && !claimed->id.empty()));
            require(cursor == (shaped ? queue::reply_string(r->element[0])
                                      : std::string("before")));
            auto deliveries = queue::pending_deliveries(r.get());
            require(!deliveries ||
                    (r->elements == 1 && r->element[0]->elements == 4));
        }
    }
    redisReaderFree(reader);
    return 0;
}
