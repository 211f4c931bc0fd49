#include "queue_reply.h"

namespace nixery::queue {

namespace {

// hiredis's own array constructor, which the bounded one calls. Its
// functions are not exported: they are taken from a plain reader once.
decltype(redisReplyObjectFunctions::createArray) default_create_array = nullptr;

// `Count` is int in hiredis 0.14 and size_t in 1.x.
template <typename Count>
void* create_bounded_array(const redisReadTask* task, Count elements)
{
    if (elements > Count(max_reply_elements)) {
        return nullptr; // the reader reports an error
    }
    return default_create_array(task, elements);
}

redisReplyObjectFunctions* bounded_functions() noexcept
{
    static redisReplyObjectFunctions* functions = []() noexcept {
        static redisReplyObjectFunctions f;
        redisReader* plain = redisReaderCreate();
        if (plain == nullptr) {
            return static_cast<redisReplyObjectFunctions*>(nullptr);
        }
        f = *plain->fn;
        redisReaderFree(plain);
        default_create_array = f.createArray;
        f.createArray = create_bounded_array;
        return &f;
    }();
    return functions;
}

} // namespace

redisReader* create_reply_reader() noexcept
{
    redisReplyObjectFunctions* f = bounded_functions();
    return f != nullptr ? redisReaderCreateWithFunctions(f) : nullptr;
}

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
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply_text(reply->element[0]) == "full") {
        return {EnqueueAnswer::Kind::full, reply_text(reply->element[1])};
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply_text(reply->element[0]) == "queued") {
        return {EnqueueAnswer::Kind::queued, reply_text(reply->element[1])};
    }
    return {};
}

} // namespace nixery::queue
