#include "queue/redis.h"

#include <sys/time.h>

namespace nixery::queue {

namespace {

timeval to_timeval(std::chrono::milliseconds ms)
{
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

} // namespace

namespace {

// Set once by set_auth() before any thread connects, then only read.
std::string& auth_user()
{
    static std::string user;
    return user;
}

std::string& auth_password()
{
    static std::string password;
    return password;
}

} // namespace

RedisClient::RedisClient(std::string address, std::chrono::milliseconds timeout)
    : address_(std::move(address))
{
    timeval tv = to_timeval(timeout);
    if (address_.rfind("unix:", 0) == 0) {
        ctx_ = redisConnectUnixWithTimeout(address_.c_str() + 5, tv);
    } else {
        std::size_t colon = address_.rfind(':');
        if (colon == std::string::npos || colon + 1 == address_.size()) {
            throw RedisError("redis address must be host:port or "
                             "unix:/path: " +
                             address_);
        }
        std::string host = address_.substr(0, colon);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        int port = std::stoi(address_.substr(colon + 1));
        ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
    }
    if (ctx_ == nullptr) {
        throw RedisError("redis: out of memory");
    }
    if (ctx_->err != 0) {
        std::string why = ctx_->errstr;
        redisFree(ctx_);
        ctx_ = nullptr;
        throw RedisError("redis " + address_ + ": " + why);
    }
    redisSetTimeout(ctx_, tv);
    if (!auth_password().empty()) {
        std::vector<std::string> argv{"AUTH"};
        if (!auth_user().empty()) {
            argv.push_back(auth_user());
        }
        argv.push_back(auth_password());
        try {
            Reply r = command(argv);
            if (r->type == REDIS_REPLY_ERROR) {
                throw RedisError("redis " + address_ + ": AUTH refused: " +
                                 std::string(r->str, r->len));
            }
        } catch (...) {
            // No destructor runs for a constructor that throws.
            redisFree(ctx_);
            ctx_ = nullptr;
            throw;
        }
    }
}

void RedisClient::set_auth(std::string user, std::string password)
{
    auth_user() = std::move(user);
    auth_password() = std::move(password);
}

RedisClient::~RedisClient()
{
    if (ctx_ != nullptr) {
        redisFree(ctx_);
    }
}

void RedisClient::set_timeout(std::chrono::milliseconds timeout)
{
    redisSetTimeout(ctx_, to_timeval(timeout));
}

Reply RedisClient::command(const std::vector<std::string>& argv)
{
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (const std::string& a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    if (ctx_->err != 0) {
        throw RedisError("redis " + address_ + ": " + ctx_->errstr);
    }
    void* r = redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(),
                               lens.data());
    if (r == nullptr) {
        throw RedisError("redis " + address_ + ": " +
                         (ctx_->err != 0 ? ctx_->errstr : "no reply"));
    }
    return Reply(static_cast<redisReply*>(r));
}

Reply RedisClient::checked(const std::vector<std::string>& argv)
{
    Reply r = command(argv);
    if (r->type == REDIS_REPLY_ERROR) {
        throw RedisError("redis " + argv.front() + ": " +
                         std::string(r->str, r->len));
    }
    return r;
}

std::string reply_string(const redisReply* r)
{
    if (r != nullptr &&
        (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
         r->type == REDIS_REPLY_ERROR)) {
        return std::string(r->str, r->len);
    }
    if (r != nullptr && r->type == REDIS_REPLY_INTEGER) {
        return std::to_string(r->integer);
    }
    return {};
}

bool reply_is_nil(const redisReply* r) noexcept
{
    return r == nullptr || r->type == REDIS_REPLY_NIL;
}

} // namespace nixery::queue
