#include "queue/stream_reply.h"

#include "queue/redis.h"

namespace nixery::queue {

namespace {

// The fields of a stream entry: [field, value, ...]; we want "job".
std::string job_field(const redisReply* fields)
{
    if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY) {
        return {};
    }
    for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (reply_string(fields->element[i]) == "job") {
            return reply_string(fields->element[i + 1]);
        }
    }
    return {};
}

// [id, [field, value, ...]]: a stream entry with its id as a string. A
// deleted entry's fields are nil; it still has an id, to acknowledge.
std::optional<StreamEntry> stream_entry(const redisReply* e)
{
    if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0] == nullptr || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len == 0) {
        return std::nullopt;
    }
    return StreamEntry{reply_string(e->element[0]), job_field(e->element[1])};
}

// The first entry of a list of entries.
std::optional<StreamEntry> first_entry(const redisReply* list)
{
    if (list == nullptr || list->type != REDIS_REPLY_ARRAY ||
        list->elements == 0) {
        return std::nullopt;
    }
    return stream_entry(list->element[0]);
}

} // namespace

std::optional<StreamEntry> read_group_entry(const redisReply* reply)
{
    // [[stream name, entries]] for the one stream read.
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 1) {
        return std::nullopt;
    }
    const redisReply* stream = reply->element[0];
    if (stream == nullptr || stream->type != REDIS_REPLY_ARRAY ||
        stream->elements != 2) {
        return std::nullopt;
    }
    return first_entry(stream->element[1]);
}

std::optional<StreamEntry> autoclaim_entry(const redisReply* reply,
                                           std::string& cursor)
{
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 2 || reply->element[0] == nullptr ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        return std::nullopt;
    }
    cursor = reply_string(reply->element[0]);
    return first_entry(reply->element[1]);
}

std::optional<long long> pending_deliveries(const redisReply* reply)
{
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 1) {
        return std::nullopt;
    }
    const redisReply* e = reply->element[0];
    if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
        e->element[3] == nullptr ||
        e->element[3]->type != REDIS_REPLY_INTEGER) {
        return std::nullopt;
    }
    return e->element[3]->integer;
}

} // namespace nixery::queue
