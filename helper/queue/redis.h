// A small blocking Redis client for the helper daemon, over hiredis.
//
// The helper is an ordinary multi-threaded daemon, so unlike the nginx
// module it may block: each worker thread owns one RedisClient. Commands are
// sent as argument vectors (never formatted strings), so job data can hold
// any bytes. Connection failures throw RedisError; the caller reconnects.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nixery::queue {

struct RedisError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ReplyDeleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisClient {
  public:
    // `address` is "host:port" or "unix:/path". Throws RedisError, also
    // when the server refuses the credentials set with set_auth().
    RedisClient(std::string address, std::chrono::milliseconds timeout);

    // Credentials every later connection sends first (AUTH [user] password;
    // an empty password: none). Call once at startup, before any thread
    // connects.
    static void set_auth(std::string user, std::string password);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // Send one command and wait for its reply. An error reply is returned
    // as such (type REDIS_REPLY_ERROR); I/O failures throw RedisError.
    Reply command(const std::vector<std::string>& argv);
    // Like command(), but an error reply throws RedisError too.
    Reply checked(const std::vector<std::string>& argv);

    // Per-command read timeout (blocking commands need a longer one).
    void set_timeout(std::chrono::milliseconds timeout);

    const std::string& address() const noexcept { return address_; }

  private:
    std::string address_;
    redisContext* ctx_ = nullptr;
};

// Helpers for reading replies.
std::string reply_string(const redisReply* r);
bool reply_is_nil(const redisReply* r) noexcept;

} // namespace nixery::queue
