// A long-lived, non-blocking Redis connection on nginx's event loop.
//
// One object per connection per worker, made in init_process. It connects
// with ngx_event_connect_peer (an IP address or a unix socket, never a host
// name: no resolver runs in a worker), writes RESP produced by hiredis's
// command formatter, and parses replies with hiredis's I/O-free reader
// (read.h): bytes in, replies out. Read and write never block; a command
// that gets no reply within the timeout, a closed socket or a protocol
// error closes the connection, and it reconnects by itself with an
// exponential backoff. What to send and what replies mean is the owner's
// business (queue.h), through the RedisHandler callbacks.
#pragma once

#include "ngx/ngx.h"

#include <hiredis/hiredis.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

class RedisConn;

class RedisHandler {
  public:
    virtual ~RedisHandler() = default;
    // Connected: send whatever the connection starts with (SUBSCRIBE...).
    virtual void on_connected(RedisConn& conn) = 0;
    // One reply, in order. The reply is freed after the call.
    virtual void on_reply(RedisConn& conn, redisReply* reply) = 0;
    // The connection is gone (a reconnect is scheduled).
    virtual void on_down(RedisConn& conn) = 0;
};

// Encode one command as RESP (hiredis's redisFormatCommandArgv).
std::string format_command(const std::vector<std::string_view>& argv);

class RedisConn {
  public:
    // `auth`: a formatted AUTH command sent first on every connection
    // (empty: none). Its reply is the connection's own: an error closes
    // the connection (logged) and it retries with the backoff.
    RedisConn(const char* name, ngx_addr_t* addr, ngx_msec_t timeout,
              RedisHandler& handler, ngx_log_t* log, std::string auth = {});
    ~RedisConn();
    RedisConn(const RedisConn&) = delete;
    RedisConn& operator=(const RedisConn&) = delete;

    void start() noexcept; // connect now
    void stop() noexcept;  // close for good (exit_process)

    bool connected() const noexcept { return c_ != nullptr && !connecting_; }
    // Queue bytes (formatted commands) and try to write them now.
    // `expect_reply`: arm the reply timeout until replies stop being owed.
    void send(std::string_view data, std::size_t replies) noexcept;
    // Replies still owed by the server for what was sent.
    std::size_t owed() const noexcept { return owed_; }

    const char* name() const noexcept { return name_; }
    // Close and schedule a reconnect; `why` (and `detail`) is logged.
    void fail(const char* why, const char* detail = nullptr) noexcept;

  private:
    static void on_read(ngx_event_t* ev) noexcept;
    static void on_write(ngx_event_t* ev) noexcept;
    static void on_reconnect(ngx_event_t* ev) noexcept;
    void connect() noexcept;
    void connect_done() noexcept;
    void read() noexcept;
    void flush() noexcept;
    void close() noexcept;
    void arm_timer() noexcept;

    const char* name_;
    ngx_addr_t* addr_;
    ngx_msec_t timeout_;
    RedisHandler& handler_;
    ngx_log_t* log_;
    ngx_peer_connection_t peer_{};
    ngx_connection_t* c_ = nullptr;
    bool connecting_ = false;
    bool stopped_ = false;
    redisReader* reader_ = nullptr;
    std::string out_;
    std::size_t out_pos_ = 0;
    std::size_t owed_ = 0;
    ngx_msec_t backoff_;
    ngx_event_t reconnect_{};
    std::string auth_;
    bool authenticating_ = false; // the AUTH reply is the next one
    // Bumped on every close, so a callback can tell whether the connection
    // it was called for is still the current one.
    unsigned long generation_ = 0;
};

} // namespace nixery
