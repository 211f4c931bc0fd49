// The build board (builds.h): the `nixery_builds` handler, the read script's
// round trip on the queue's command connection, and this worker's counts of
// waiting clients, written to Redis in batches.
#include "ngx/builds.h"

#include "ngx/module.h"
#include "ngx/queue_client.h"
#include "ngx/response.h"

#include "build_board.h"

#include <exception>
#include <string>

namespace nixery {

namespace {

// Count changes are written at most this often per worker (a flood of
// clients on one image costs one write per image per interval).
constexpr ngx_msec_t waiters_flush_interval = 200;

std::int64_t now_ms() noexcept
{
    ngx_time_t* t = ngx_timeofday();
    return static_cast<std::int64_t>(t->sec) * 1000 +
           static_cast<std::int64_t>(t->msec);
}

std::string_view sv(const redisReply* r) noexcept
{
    if (r != nullptr &&
        (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
         r->type == REDIS_REPLY_ERROR)) {
        return {r->str, r->len};
    }
    return {};
}

bool integer(const redisReply* r, std::int64_t& out) noexcept
{
    if (r == nullptr || r->type != REDIS_REPLY_INTEGER) {
        return false;
    }
    out = r->integer;
    return true;
}

// The read script's reply (build_board.h) as a Snapshot; false when it is
// not that shape.
bool snapshot_from(const redisReply* reply, board::Snapshot& s)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 7) {
        return false;
    }
    redisReply** e = reply->element;
    if (!integer(e[0], s.now_ms) || !integer(e[1], s.jobs) ||
        !integer(e[2], s.pending) || e[3]->type != REDIS_REPLY_STRING ||
        e[4]->type != REDIS_REPLY_STRING || e[5]->type != REDIS_REPLY_ARRAY ||
        e[6]->type != REDIS_REPLY_ARRAY || e[5]->elements % 2 != 0) {
        return false;
    }
    s.oldest_id = sv(e[3]);
    s.oldest_job = sv(e[4]);
    for (std::size_t i = 0; i < e[5]->elements; i += 2) {
        board::Snapshot::Entry entry;
        entry.record = sv(e[5]->element[i]);
        if (!integer(e[5]->element[i + 1], entry.waiting)) {
            return false;
        }
        s.builds.push_back(std::move(entry));
    }
    for (std::size_t i = 0; i < e[6]->elements; ++i) {
        s.failures.emplace_back(sv(e[6]->element[i]));
    }
    return true;
}

ngx_int_t send_board(ngx_http_request_t* r, const redisReply* reply) noexcept
try {
    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: redis refused to read the build board: %*s",
                      reply->len, reply->str);
        return send_error(r, ErrorCode::unavailable,
                          "the build board cannot be read");
    }
    board::Snapshot s;
    if (!snapshot_from(reply, s)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: the build board's reply from redis could not "
                      "be read");
        return send_error(r, ErrorCode::unknown,
                          "the build board could not be read");
    }
    std::string body = board::render_board_json(s);
    // The board changes all the time.
    r->headers_out.last_modified_time = -1;
    if (add_header(r, ngx_string("Cache-Control"), ngx_string("no-store")) ==
        nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return send_json(r, NGX_HTTP_OK, body);
} catch (const std::exception& e) {
    return fail_request(r, "rendering the build board", e.what());
} catch (...) {
    return fail_request(r, "rendering the build board", "unknown exception");
}

// The board from the read script's reply; without one (the connection
// went down first), 503.
ngx_int_t answer_board(ngx_http_request_t* r, void*,
                       const redisReply* reply) noexcept
{
    if (reply == nullptr) {
        return send_unavailable(
            r, "the build queue is unavailable",
            worker_queue != nullptr ? worker_queue->conf().retry_after : 0);
    }
    return send_board(r, reply);
}

ngx_int_t builds_handler(ngx_http_request_t* r) noexcept
try {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return send_error(r, ErrorCode::unsupported,
                          "the build board is read-only: only GET and HEAD "
                          "are served");
    }
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    if (worker_queue == nullptr || !worker_queue->ready()) {
        return send_unavailable(
            r, "the build queue is unavailable",
            worker_queue != nullptr ? worker_queue->conf().retry_after : 0);
    }
    return worker_queue->park_read(
        r,
        format_command(
            {"EVAL", board::read_script, "3", board::builds_hash,
             queue::jobs_stream, board::failures_list, queue::helpers_group,
             std::to_string(board::failures_kept), board::waiters_prefix}),
        answer_board, nullptr);
} catch (const std::exception& e) {
    return fail_request(r, "reading the build board", e.what());
} catch (...) {
    return fail_request(r, "reading the build board", "unknown exception");
}

} // namespace

void Queue::count_waiters(const std::string& key) noexcept
{
    try {
        waiters_dirty_.insert(key);
    } catch (...) {
        return; // out of memory: the next refresh counts it
    }
    if (!waiters_flush_.timer_set) {
        ngx_add_timer(&waiters_flush_, waiters_flush_interval);
    }
}

void Queue::count_all_waiters() noexcept
{
    for (const auto& [key, entry] : keys_) {
        count_waiters(key);
    }
}

// Write this worker's count for every image whose count changed: HSET with
// the count's own expiry (a dead worker's field stops counting) and
// PEXPIRE on the image's hash, or HDEL once nobody waits here.
void Queue::flush_waiters(ngx_event_t* ev) noexcept
{
    auto* q = static_cast<Queue*>(ev->data);
    if (!q->ready()) {
        // became_ready() counts again.
        q->waiters_dirty_.clear();
        return;
    }
    try {
        std::string value;
        std::string ttl = std::to_string(board::waiters_ttl_ms);
        std::int64_t expires = now_ms() + board::waiters_ttl_ms;
        std::string out;
        std::size_t replies = 0;
        for (const std::string& key : q->waiters_dirty_) {
            auto it = q->keys_.find(key);
            ngx_uint_t n = it != q->keys_.end() ? it->second.count : 0;
            std::string hash = board::waiters_key(key);
            if (n > 0) {
                out += format_command(
                    {"HSET", hash, q->worker_id_,
                     board::waiters_value(static_cast<std::int64_t>(n),
                                          expires)});
                out += format_command({"PEXPIRE", hash, ttl});
                q->pending_.push_back({Pending::Kind::ignore, {}, 0});
                q->pending_.push_back({Pending::Kind::ignore, {}, 0});
                replies += 2;
            } else {
                out += format_command({"HDEL", hash, q->worker_id_});
                q->pending_.push_back({Pending::Kind::ignore, {}, 0});
                ++replies;
            }
        }
        q->waiters_dirty_.clear();
        if (replies > 0) {
            q->cmd_.send(out, replies);
        }
    } catch (const std::exception& e) {
        // Only memory running out gets here; the pending entries pushed
        // would now be out of step with the commands sent: start over.
        ngx_log_error(NGX_LOG_ERR, q->log_, 0,
                      "nixery: cannot count waiting clients in redis: %s",
                      e.what());
        q->cmd_.fail("cannot count waiting clients");
    }
}

char* set_builds(ngx_conf_t* cf, ngx_command_t*, void*) noexcept
{
    auto* main = static_cast<MainConf*>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_nixery_module));
    main->queue.board = 1;
    return set_location_handler(cf, builds_handler);
}

} // namespace nixery
