// The RESP replies the module reads from Redis: bytes fed to hiredis's
// reader as the module feeds what recv() gives (src/ngx/redis_conn.c++), then
// each reply read as an announcement (subscriber connection) and as the
// enqueue script's answer (command connection), and the result text either
// carries through parse_result(), as src/ngx/queue_redis.c++ does.
// The reader is the module's (create_reply_reader()). Input: one byte
// giving the size of the pieces fed, then the stream.
// Property: the replies do not depend on how the stream was cut.
#include "fuzz.h"

#include "digest.h"
#include "queue_reply.h"
#include "queue_schema.h"

#include <hiredis/hiredis.h>

#include <string>

using namespace nixery;

namespace {

// A reply as text, to compare two readings of one stream.
void describe(const redisReply* r, std::string& out)
{
    out += std::to_string(r->type);
    out += ':';
    out += std::to_string(r->integer);
    out += ':';
    out += queue::reply_text(r);
    if (r->type == REDIS_REPLY_ARRAY) {
        out += '[';
        for (std::size_t i = 0; i < r->elements; ++i) {
            describe(r->element[i], out);
            out += ',';
        }
        out += ']';
    }
}

void interpret(const redisReply* r)
{
    queue::Announcement a = queue::read_announcement(r);
    if (a.kind == queue::Announcement::Kind::message) {
        if (auto result = queue::parse_result(a.text)) {
            require(is_sha256_hex(result->key));
        }
    }
    queue::EnqueueAnswer e = queue::read_enqueue_answer(r);
    if (e.kind == queue::EnqueueAnswer::Kind::refused) {
        require(r->type == REDIS_REPLY_ERROR);
    }
    if (e.kind == queue::EnqueueAnswer::Kind::result) {
        if (auto result = queue::parse_result(e.text)) {
            require(is_sha256_hex(result->key));
        }
    }
}

// Every reply of the stream, fed in pieces of `piece` bytes (0: at once),
// described; "!" marks a protocol error, after which the module drops the
// connection.
std::string read_all(std::string_view in, std::size_t piece)
{
    std::string out;
    redisReader* reader = queue::create_reply_reader();
    require(reader != nullptr);
    std::size_t step = piece == 0 ? in.size() : piece;
    for (std::size_t at = 0; at < in.size(); at += step) {
        std::string_view chunk = in.substr(at, step);
        if (redisReaderFeed(reader, chunk.data(), chunk.size()) != REDIS_OK) {
            out += '!';
            break;
        }
        bool broken = false;
        for (;;) {
            void* reply = nullptr;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
                broken = true;
                break;
            }
            if (reply == nullptr) {
                break;
            }
            auto* r = static_cast<redisReply*>(reply);
            interpret(r);
            describe(r, out);
            out += '\n';
            freeReplyObject(r);
        }
        if (broken) {
            out += '!';
            break;
        }
    }
    redisReaderFree(reader);
    return out;
}

} // namespace

NIXERY_FUZZ_TARGET
{
    if (size == 0) {
        return 0;
    }
    std::size_t piece = data[0] % 17;
    std::string_view in = fuzz::bytes(data + 1, size - 1);
    std::string whole = read_all(in, 0);
    if (piece != 0) {
        std::string cut = read_all(in, piece);
        // A protocol error may be seen earlier or later; the replies
        // before it are the same.
        if (whole.find('!') == std::string::npos &&
            cut.find('!') == std::string::npos) {
            require(cut == whole);
        }
    }
    return 0;
}
