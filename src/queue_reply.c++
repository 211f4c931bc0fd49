#include "queue_reply.h"

namespace nixery::queue {

std::string_view reply_text(const redisReply* r) noexcept
{
    if (r != nullptr && r->str != nullptr &&
        (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
         r->type == REDIS_REPLY_ERROR)) {
        return {r->str, r->len};
    }
    return {};
}

Announcement read_announcement(const redisReply* reply) noexcept
{
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 3) {
        return {};
    }
    std::string_view kind = reply_text(reply->element[0]);
    if (kind == "subscribe") {
        return {Announcement::Kind::subscribed, {}};
    }
    if (kind == "message") {
        return {Announcement::Kind::message, reply_text(reply->element[2])};
    }
    return {};
}

EnqueueAnswer read_enqueue_answer(const redisReply* reply) noexcept
{
    if (reply == nullptr) {
        return {};
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        return {EnqueueAnswer::Kind::refused, reply_text(reply)};
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply_text(reply->element[0]) == "result") {
        return {EnqueueAnswer::Kind::result, reply_text(reply->element[1])};
    }
    return {};
}

} // namespace nixery::queue
