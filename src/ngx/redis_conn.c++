#include "ngx/redis_conn.h"

#include "queue_reply.h"

#include <algorithm>
#include <exception>
#include <new>
#include <sys/un.h>
#include <unistd.h>

namespace nixery {

namespace {

constexpr ngx_msec_t backoff_min = 100;
constexpr ngx_msec_t backoff_max = 2000;

} // namespace

std::string format_command(const std::vector<std::string_view>& argv)
{
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (std::string_view a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    char* cmd = nullptr;
    int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()),
                                   args.data(), lens.data());
    if (n < 0 || cmd == nullptr) {
        throw std::bad_alloc();
    }
    std::string out(cmd, static_cast<std::size_t>(n));
    redisFreeCommand(cmd);
    return out;
}

RedisConn::RedisConn(const char* name, ngx_addr_t* addr, ngx_msec_t timeout,
                     RedisHandler& handler, ngx_log_t* log, std::string auth)
    : name_(name), addr_(addr), timeout_(timeout), handler_(handler), log_(log),
      backoff_(backoff_min), auth_(std::move(auth))
{
    reconnect_.handler = on_reconnect;
    reconnect_.data = this;
    reconnect_.log = log_;
    // A pending reconnect must not keep a worker alive on shutdown.
    reconnect_.cancelable = 1;
}

RedisConn::~RedisConn()
{
    stop();
}

void RedisConn::start() noexcept
{
    stopped_ = false;
    connect();
}

void RedisConn::stop() noexcept
{
    stopped_ = true;
    if (reconnect_.timer_set) {
        ngx_del_timer(&reconnect_);
    }
    close();
}

void RedisConn::close() noexcept
{
    if (c_ != nullptr) {
        ngx_close_connection(c_);
        c_ = nullptr;
    }
    if (reader_ != nullptr) {
        redisReaderFree(reader_);
        reader_ = nullptr;
    }
    connecting_ = false;
    out_.clear();
    out_pos_ = 0;
    owed_ = 0;
    ++generation_;
}

void RedisConn::fail(const char* why, const char* detail) noexcept
{
    bool was_up = connected();
    if (c_ != nullptr || was_up) {
        ngx_log_error(
            NGX_LOG_ERR, log_, 0, "nixery: redis %s connection to %V: %s%s%s",
            name_, &addr_->name, why, detail ? ": " : "", detail ? detail : "");
    }
    close();
    if (stopped_) {
        return;
    }
    handler_.on_down(*this);
    if (!reconnect_.timer_set && !stopped_) {
        ngx_add_timer(&reconnect_, backoff_);
        backoff_ = std::min(backoff_ * 2, backoff_max);
    }
}

void RedisConn::on_reconnect(ngx_event_t* ev) noexcept
{
    auto* self = static_cast<RedisConn*>(ev->data);
    if (!self->stopped_ && !ngx_exiting && !ngx_terminate) {
        self->connect();
    }
}

void RedisConn::connect() noexcept
{
    close();
    // Arrays bounded: see queue_reply.h.
    reader_ = queue::create_reply_reader();
    if (reader_ == nullptr) {
        fail("out of memory");
        return;
    }
    if (addr_->sockaddr->sa_family == AF_UNIX) {
        // nginx logs a connect() to a missing socket file as [crit]; a
        // stopped Redis removes its socket, which is not critical.
        auto* sun = reinterpret_cast<sockaddr_un*>(addr_->sockaddr);
        if (access(sun->sun_path, F_OK) != 0) {
            fail("socket file missing");
            return;
        }
    }
    peer_ = ngx_peer_connection_t{};
    peer_.sockaddr = addr_->sockaddr;
    peer_.socklen = addr_->socklen;
    peer_.name = &addr_->name;
    peer_.get = ngx_event_get_peer;
    peer_.log = log_;
    peer_.log_error = NGX_ERROR_ERR;
    // Notice a Redis host that vanished (TCP only).
    peer_.so_keepalive = addr_->sockaddr->sa_family != AF_UNIX;
    ngx_int_t rc = ngx_event_connect_peer(&peer_);
    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (peer_.connection != nullptr) {
            c_ = peer_.connection;
        }
        fail("connect failed");
        return;
    }
    c_ = peer_.connection;
    c_->data = this;
    c_->log = log_;
    c_->read->log = log_;
    c_->write->log = log_;
    c_->read->handler = on_read;
    c_->write->handler = on_write;
    connecting_ = true;
    if (rc == NGX_AGAIN) {
        c_->write->cancelable = 1;
        ngx_add_timer(c_->write, timeout_);
        return;
    }
    connect_done();
}

void RedisConn::connect_done() noexcept
{
    // The same check nginx's upstream makes: a non-blocking connect's
    // outcome is in SO_ERROR.
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c_->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = ngx_socket_errno;
    }
    if (err != 0) {
        ngx_log_error(NGX_LOG_ERR, log_, err,
                      "nixery: redis %s connect() to %V failed", name_,
                      &addr_->name);
        close();
        fail("connect failed");
        return;
    }
    connecting_ = false;
    if (c_->write->timer_set) {
        ngx_del_timer(c_->write);
    }
    backoff_ = backoff_min;
    ngx_log_error(NGX_LOG_INFO, log_, 0, "nixery: redis %s connected to %V",
                  name_, &addr_->name);
    unsigned long gen = generation_;
    authenticating_ = false;
    if (!auth_.empty()) {
        // Pipelined: what on_connected() sends runs once AUTH succeeded.
        send(auth_, 1);
        authenticating_ = true;
    }
    handler_.on_connected(*this);
    if (gen == generation_ && c_ != nullptr) {
        // Replies may already be waiting (edge-triggered events).
        read();
    }
}

void RedisConn::arm_timer() noexcept
{
    if (c_ == nullptr) {
        return;
    }
    if (owed_ > 0) {
        // Re-armed on each reply: the timeout bounds the wait for the
        // next one, not for the whole pipeline.
        c_->read->cancelable = 1;
        ngx_add_timer(c_->read, timeout_);
    } else if (c_->read->timer_set) {
        ngx_del_timer(c_->read);
    }
}

void RedisConn::send(std::string_view data, std::size_t replies) noexcept
{
    if (!connected()) {
        return;
    }
    try {
        out_.append(data);
    } catch (const std::exception& e) {
        // Only an allocation failure gets here: the connection cannot be
        // kept in step with its replies, so it starts afresh.
        fail("cannot queue a command", e.what());
        return;
    } catch (...) {
        fail("cannot queue a command", "unknown exception");
        return;
    }
    if (owed_ == 0 && replies > 0) {
        owed_ = replies;
        arm_timer();
    } else {
        owed_ += replies;
    }
    flush();
}

void RedisConn::flush() noexcept
{
    while (c_ != nullptr && out_pos_ < out_.size()) {
        ssize_t n =
            c_->send(c_, reinterpret_cast<u_char*>(out_.data() + out_pos_),
                     out_.size() - out_pos_);
        if (n == NGX_AGAIN) {
            break;
        }
        if (n == NGX_ERROR || n < 0) {
            fail("send failed");
            return;
        }
        out_pos_ += static_cast<std::size_t>(n);
    }
    if (c_ == nullptr) {
        return;
    }
    if (out_pos_ == out_.size()) {
        out_.clear();
        out_pos_ = 0;
    }
    if (ngx_handle_write_event(c_->write, 0) != NGX_OK) {
        fail("cannot watch for writes");
    }
}

void RedisConn::on_write(ngx_event_t* ev) noexcept
{
    auto* c = static_cast<ngx_connection_t*>(ev->data);
    auto* self = static_cast<RedisConn*>(c->data);
    if (self->connecting_) {
        if (ev->timedout) {
            self->fail("connect timed out");
            return;
        }
        self->connect_done();
        return;
    }
    self->flush();
}

void RedisConn::on_read(ngx_event_t* ev) noexcept
{
    auto* c = static_cast<ngx_connection_t*>(ev->data);
    auto* self = static_cast<RedisConn*>(c->data);
    if (self->connecting_) {
        if (ev->timedout) {
            self->fail("connect timed out");
            return;
        }
        self->connect_done();
        return;
    }
    if (ev->timedout) {
        ev->timedout = 0;
        self->fail("timed out waiting for a reply");
        return;
    }
    self->read();
}

void RedisConn::read() noexcept
{
    u_char buf[16384];
    unsigned long gen = generation_;
    while (c_ != nullptr && gen == generation_) {
        ssize_t n = c_->recv(c_, buf, sizeof buf);
        if (n == NGX_AGAIN) {
            break;
        }
        if (n == 0) {
            fail("closed by the server");
            return;
        }
        if (n < 0) {
            fail("recv failed");
            return;
        }
        if (redisReaderFeed(reader_, reinterpret_cast<const char*>(buf),
                            static_cast<std::size_t>(n)) != REDIS_OK) {
            fail("protocol error");
            return;
        }
        while (gen == generation_) {
            void* reply = nullptr;
            if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
                fail("protocol error");
                return;
            }
            if (reply == nullptr) {
                break;
            }
            if (owed_ > 0) {
                --owed_;
            }
            auto* r = static_cast<redisReply*>(reply);
            if (authenticating_) {
                authenticating_ = false;
                bool refused = r->type == REDIS_REPLY_ERROR;
                if (refused) {
                    ngx_log_error(NGX_LOG_ERR, log_, 0,
                                  "nixery: redis %s: AUTH refused: %*s", name_,
                                  r->len, r->str);
                }
                freeReplyObject(r);
                if (refused) {
                    fail("authentication failed");
                    return;
                }
                arm_timer();
                continue;
            }
            handler_.on_reply(*this, r);
            freeReplyObject(r);
            if (gen == generation_) {
                arm_timer();
            }
        }
    }
    if (c_ != nullptr && gen == generation_ &&
        ngx_handle_read_event(c_->read, 0) != NGX_OK) {
        fail("cannot watch for reads");
    }
}

} // namespace nixery
