#include "ngx/queue.h"

#include "ngx/redis_conn.h"
#include "ngx/response.h"
#include "ngx/serve.h"
#include "ngx/stats.h"

#include "errors.h"
#include "queue_schema.h"

#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace nixery {

namespace {

struct KeyEntry;

// A parked request. Lives in the request's pool, inside its cleanup, so it
// is freed with the request; trivially destructible.
struct Waiter {
    ngx_http_request_t* r;
    Waiter* prev;
    Waiter* next;
    KeyEntry* entry; // nullptr once unlinked
    const std::string* key;
    ngx_event_t timer;
    u_char request_key[64]; // canonical_key(): what serve_from_index needs
};
static_assert(std::is_trivially_destructible_v<Waiter>);

struct KeyEntry {
    Waiter* head = nullptr;
    ngx_uint_t count = 0;
    // Taken out of the table to be answered (answer_all()).
    bool detached = false;
    // The enqueue script was sent on the current connection. Parked before
    // the worker's first connection was up, or across a lost one: sent
    // (again) once both connections are up.
    bool sent = false;
    // The job (format_job()), kept to be sent again.
    std::string job;
    // A result said "built" but the image was not in storage: its result
    // was dropped and the job sent again, once.
    bool rebuilt = false;
};

void waiter_cleanup(void* data) noexcept;
void waiter_timeout(ngx_event_t* ev) noexcept;

class Queue final : public RedisHandler {
  public:
    Queue(const QueueConf& conf, ngx_log_t* log)
        : conf_(conf), log_(log),
          cmd_("command", conf.redis, conf.redis_timeout, *this, log,
               auth_command(conf)),
          sub_("subscriber", conf.redis, conf.redis_timeout, *this, log,
               auth_command(conf))
    {
    }

    static std::string auth_command(const QueueConf& conf)
    {
        auto view = [](const ngx_str_t& s) {
            return std::string_view(reinterpret_cast<char*>(s.data), s.len);
        };
        if (conf.auth_password.len == 0) {
            return {};
        }
        if (conf.auth_user.len == 0) {
            return format_command({"AUTH", view(conf.auth_password)});
        }
        return format_command(
            {"AUTH", view(conf.auth_user), view(conf.auth_password)});
    }

    void start() noexcept
    {
        cmd_.start();
        sub_.start();
        ping_.handler = on_ping;
        ping_.data = this;
        ping_.log = log_;
        ping_.cancelable = 1;
        ngx_add_timer(&ping_, ping_interval);
        outage_.handler = on_outage;
        outage_.data = this;
        outage_.log = log_;
        outage_.cancelable = 1;
    }

    ~Queue() override
    {
        if (ping_.timer_set) {
            ngx_del_timer(&ping_);
        }
        if (outage_.timer_set) {
            ngx_del_timer(&outage_);
        }
        if (counted_ready_) {
            stat_add(Stat::redis_workers, -1);
        }
    }

    // Keep the shared count of workers with Redis up in step.
    void count_ready() noexcept
    {
        bool up = ready();
        if (up != counted_ready_) {
            stat_add(Stat::redis_workers, up ? 1 : -1);
            counted_ready_ = up;
        }
    }

    bool ready() const noexcept
    {
        return cmd_.connected() && sub_.connected() && subscribed_;
    }

    // A worker that has just started is still connecting: requests wait
    // for the connections rather than getting 503 (until one fails).
    bool starting() const noexcept { return starting_; }

    ngx_int_t park(ngx_http_request_t* r, const ImageRequest& request);
    void unlink(Waiter* w) noexcept;
    void finish(Waiter* w, const queue::Result* result,
                const char* why) noexcept;

    const QueueConf& conf() const noexcept { return conf_; }

    void on_connected(RedisConn& conn) override;
    void on_reply(RedisConn& conn, redisReply* reply) override;
    void on_down(RedisConn& conn) override;

  private:
    // The subscriber connection only ever receives: a PING now and then
    // (answered within nixery_redis_timeout) tells a silently dead one
    // from a quiet one, so its waiters are not left hanging.
    static constexpr ngx_msec_t ping_interval = 10000;
    static void on_ping(ngx_event_t* ev) noexcept
    {
        auto* q = static_cast<Queue*>(ev->data);
        if (ngx_exiting || ngx_terminate) {
            return;
        }
        if (q->subscribed_ && q->sub_.owed() == 0) {
            try {
                q->sub_.send(format_command({"PING"}), 1);
            } catch (...) {
            }
        }
        ngx_add_timer(&q->ping_, ping_interval);
    }

    // A connection lost with requests waiting: they wait for it to come
    // back for up to nixery_redis_timeout, then get 503.
    static void on_outage(ngx_event_t* ev) noexcept
    {
        auto* q = static_cast<Queue*>(ev->data);
        if (!q->ready()) {
            q->fail_all("the build queue is unavailable");
        }
    }

    void send_enqueue(const std::string& key, KeyEntry& entry,
                      bool drop_result = false) noexcept;
    void became_ready() noexcept;
    void dispatch(const queue::Result& result) noexcept;
    void answer_all(std::unordered_map<std::string, KeyEntry>::iterator it,
                    const queue::Result* result, const char* why) noexcept;
    void fail_key(const std::string& key, const char* why) noexcept;
    void fail_all(const char* why) noexcept;

    QueueConf conf_;
    ngx_log_t* log_;
    RedisConn cmd_;
    RedisConn sub_;
    bool subscribed_ = false;
    bool starting_ = true;
    bool counted_ready_ = false;
    std::unordered_map<std::string, KeyEntry> keys_;
    // The key each enqueue script in flight on cmd_ was sent for, in order.
    std::deque<std::string> pending_;
    ngx_event_t ping_{};
    ngx_event_t outage_{};
};

// The worker's queue, made in init_process. A plain pointer: no non-POD
// global, nothing constructed at load time.
Queue* worker_queue = nullptr;

std::string_view sv(const redisReply* r) noexcept
{
    if (r != nullptr &&
        (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
         r->type == REDIS_REPLY_ERROR)) {
        return {r->str, r->len};
    }
    return {};
}

// 503 UNAVAILABLE with Retry-After: the client should come back.
ngx_int_t send_unavailable(ngx_http_request_t* r, const char* why,
                           time_t retry_after) noexcept
try {
    if (retry_after > 0) {
        auto* p = static_cast<u_char*>(ngx_pnalloc(r->pool, NGX_TIME_T_LEN));
        if (p == nullptr) {
            return NGX_ERROR;
        }
        ngx_str_t v{static_cast<size_t>(ngx_sprintf(p, "%T", retry_after) - p),
                    p};
        if (add_header(r, ngx_string("Retry-After"), v) == nullptr) {
            return NGX_ERROR;
        }
    }
    return send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                     error_json(ErrorCode::unavailable, why,
                                "the image is not built yet; retry later"));
} catch (...) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

ngx_int_t Queue::park(ngx_http_request_t* r, const ImageRequest& request)
{
    ngx_time_t* now = ngx_timeofday();
    queue::Job job =
        queue::make_job(request, static_cast<std::int64_t>(now->sec) * 1000 +
                                     static_cast<std::int64_t>(now->msec));
    // Format before touching the request, so a throw leaves nothing behind.
    std::string text = queue::format_job(job);
    auto [it, first] = keys_.try_emplace(job.key);
    if (first) {
        it->second.job = std::move(text);
    }

    ngx_http_cleanup_t* cln = ngx_http_cleanup_add(r, sizeof(Waiter));
    if (cln == nullptr) {
        if (first) {
            keys_.erase(it);
        }
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    auto* w = static_cast<Waiter*>(cln->data);
    std::memset(w, 0, sizeof(Waiter));
    w->r = r;
    ngx_memcpy(w->request_key, job.key.data(), sizeof(w->request_key));
    w->key = &it->first;
    w->entry = &it->second;
    w->next = it->second.head;
    if (w->next != nullptr) {
        w->next->prev = w;
    }
    it->second.head = w;
    ++it->second.count;
    cln->handler = waiter_cleanup;

    w->timer.handler = waiter_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;
    ngx_add_timer(&w->timer, conf_.wait_timeout);

    stat_add(Stat::waiting);
    stat_add(Stat::waited);

    // Notice a client that goes away; write nothing until resumed.
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
    r->main->count++;

    // One enqueue per image per worker; the script makes it one build
    // across all workers and hosts. Not ready yet: became_ready() sends it.
    if (first && ready()) {
        send_enqueue(job.key, it->second);
    }
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "nixery: waiting for image \"%s\" (%ui waiting)",
                   job.key.c_str(), it->second.count);
    return NGX_DONE;
}

void Queue::unlink(Waiter* w) noexcept
{
    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
    KeyEntry* e = w->entry;
    if (e == nullptr) {
        return;
    }
    stat_add(Stat::waiting, -1);
    if (w->prev != nullptr) {
        w->prev->next = w->next;
    } else {
        e->head = w->next;
    }
    if (w->next != nullptr) {
        w->next->prev = w->prev;
    }
    w->prev = w->next = nullptr;
    w->entry = nullptr;
    if (--e->count == 0 && !e->detached) {
        std::string key = *w->key;
        keys_.erase(key);
    }
    w->key = nullptr;
}

// Answer a parked request: from storage (result ok), with the build's error,
// or with 503 (`why`, when there is no result). Finalizes exactly once.
void Queue::finish(Waiter* w, const queue::Result* result,
                   const char* why) noexcept
{
    unlink(w);
    ngx_http_request_t* r = w->r;
    ngx_connection_t* c = r->connection;
    ngx_int_t rc;
    try {
        if (result != nullptr && result->ok) {
            std::string_view key(reinterpret_cast<char*>(w->request_key),
                                 sizeof(w->request_key));
            rc = serve_from_index(r, key);
            stat_add(rc == NGX_DECLINED ? Stat::failed : Stat::built);
            if (rc == NGX_DECLINED) {
                // Announced as built, yet not in storage (deleted since,
                // or the helper writes to another storage): say so.
                ngx_log_error(NGX_LOG_ERR, c->log, 0,
                              "nixery: image announced as built but not in "
                              "storage; is the helper's --storage this "
                              "nixery_storage?");
                rc = send_json(
                    r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                    error_json(ErrorCode::unknown,
                               "image built but missing from storage"));
            }
        } else if (result != nullptr) {
            stat_add(Stat::failed);
            rc = send_json(r, error_info(result->code).status,
                           queue::result_error_json(*result));
        } else {
            rc = send_unavailable(r, why, conf_.retry_after);
        }
    } catch (...) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}

// Answer every request parked on one key. Answering one may run any nginx
// code, including the cleanup of another waiter in the list (subrequests of
// one main request): the list is moved out of the table first and each
// waiter unlinks itself from it, so the walk never follows a freed waiter.
void Queue::answer_all(std::unordered_map<std::string, KeyEntry>::iterator it,
                       const queue::Result* result, const char* why) noexcept
{
    KeyEntry batch = it->second;
    batch.detached = true;
    for (Waiter* w = batch.head; w != nullptr; w = w->next) {
        w->entry = &batch;
        w->key = nullptr;
    }
    keys_.erase(it);
    while (batch.head != nullptr) {
        if (result == nullptr) {
            stat_add(Stat::unavailable);
        }
        finish(batch.head, result, why);
    }
}

void Queue::dispatch(const queue::Result& result) noexcept
{
    auto it = keys_.find(result.key);
    if (it == keys_.end()) {
        return;
    }
    KeyEntry& entry = it->second;
    if (result.ok && !entry.rebuilt && entry.head != nullptr &&
        !index_has_image(entry.head->r, it->first)) {
        // A stored result outlived its image (collected or deleted within
        // the result's lifetime): forget the result and build again, once.
        // If the helper still says built, its storage is not ours and the
        // waiters get the error below.
        ngx_log_error(NGX_LOG_WARN, log_, 0,
                      "nixery: image %s was announced as built but is not "
                      "in storage: building it again",
                      it->first.c_str());
        entry.rebuilt = true;
        if (ready()) {
            send_enqueue(it->first, entry, true);
        } else {
            entry.sent = false; // sent again on reconnect
        }
        return;
    }
    ngx_log_error(
        NGX_LOG_INFO, log_, 0, "nixery: build result for %s: %s, %ui waiting",
        result.key.c_str(), result.ok ? "ok" : "error", it->second.count);
    answer_all(it, &result, nullptr);
}

void Queue::fail_key(const std::string& key, const char* why) noexcept
{
    auto it = keys_.find(key);
    if (it != keys_.end()) {
        answer_all(it, nullptr, why);
    }
}

void Queue::fail_all(const char* why) noexcept
{
    while (!keys_.empty()) {
        answer_all(keys_.begin(), nullptr, why);
    }
}

void Queue::send_enqueue(const std::string& key, KeyEntry& entry,
                         bool drop_result) noexcept
{
    std::vector<std::string_view> argv{
        "EVAL", queue::enqueue_script, "3",       "",
        "",     queue::jobs_stream,    entry.job, ""};
    try {
        std::string result = queue::result_key(key);
        std::string inflight = queue::inflight_key(key);
        std::string ttl = std::to_string(queue::inflight_ttl_seconds);
        argv[3] = result;
        argv[4] = inflight;
        argv[7] = ttl;
        if (drop_result) {
            argv.push_back("drop-result");
        }
        std::string eval = format_command(argv);
        pending_.push_back(key);
        entry.sent = true;
        cmd_.send(eval, 1);
    } catch (...) {
        // its waiters time out
    }
}

// Both connections are up (at start, or after a lost one came back): send
// the jobs of the requests that waited for it. The enqueue script makes a
// second send harmless: a result already stored answers at once, a job
// already queued is not queued twice, and a job Redis lost is queued again.
void Queue::became_ready() noexcept
{
    if (!ready()) {
        return;
    }
    starting_ = false;
    count_ready();
    if (outage_.timer_set) {
        ngx_del_timer(&outage_);
    }
    for (auto& [key, entry] : keys_) {
        if (!entry.sent && !entry.detached && ready()) {
            send_enqueue(key, entry);
        }
    }
}

void Queue::on_connected(RedisConn& conn)
{
    if (&conn == &sub_) {
        conn.send(format_command({"SUBSCRIBE", queue::done_channel}), 1);
    } else {
        became_ready();
    }
}

void Queue::on_reply(RedisConn& conn, redisReply* reply)
{
    try {
        if (&conn == &sub_) {
            if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
                return;
            }
            std::string_view kind = sv(reply->element[0]);
            if (kind == "subscribe") {
                subscribed_ = true;
                ngx_log_error(NGX_LOG_INFO, log_, 0,
                              "nixery: subscribed to build results");
                became_ready();
            } else if (kind == "message") {
                std::string_view text = sv(reply->element[2]);
                if (auto result = queue::parse_result(text)) {
                    dispatch(*result);
                } else {
                    ngx_log_error(NGX_LOG_WARN, log_, 0,
                                  "nixery: malformed build result ignored");
                }
            }
            return;
        }
        if (pending_.empty()) {
            return;
        }
        std::string key = std::move(pending_.front());
        pending_.pop_front();
        if (reply->type == REDIS_REPLY_ERROR) {
            std::string_view e = sv(reply);
            ngx_log_error(NGX_LOG_ERR, log_, 0, "nixery: enqueue failed: %*s",
                          e.size(), e.data());
            fail_key(key, "the build queue refused the job");
            return;
        }
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
            sv(reply->element[0]) == "result") {
            // The image was built (or failed) just before we asked.
            if (auto result = queue::parse_result(sv(reply->element[1]))) {
                dispatch(*result);
            }
        }
    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, log_, 0,
                      "nixery: cannot handle a redis reply");
    }
}

void Queue::on_down(RedisConn& conn)
{
    if (&conn == &sub_) {
        subscribed_ = false;
    } else {
        pending_.clear();
    }
    starting_ = false;
    count_ready();
    // A result may be missed while a connection is down: every job is sent
    // again once both are back, and waiting requests ride out an outage of
    // up to nixery_redis_timeout (the reconnect backoff tops out at 2 s).
    // New requests get 503 meanwhile (queue_wait_for_image()).
    for (auto& [key, entry] : keys_) {
        entry.sent = false;
    }
    if (!keys_.empty() && !outage_.timer_set) {
        ngx_add_timer(&outage_, conf_.redis_timeout);
    }
}

void waiter_cleanup(void* data) noexcept
{
    auto* w = static_cast<Waiter*>(data);
    if (worker_queue != nullptr) {
        worker_queue->unlink(w);
    } else if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}

void waiter_timeout(ngx_event_t* ev) noexcept
{
    auto* w = static_cast<Waiter*>(ev->data);
    if (worker_queue == nullptr) {
        return;
    }
    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "nixery: gave up waiting for a build");
    stat_add(Stat::timed_out);
    worker_queue->finish(w, nullptr, "image build still in progress");
}

} // namespace

void queue_conf_create(QueueConf* conf) noexcept
{
    conf->redis = static_cast<ngx_addr_t*>(NGX_CONF_UNSET_PTR);
    conf->wait_timeout = NGX_CONF_UNSET_MSEC;
    conf->redis_timeout = NGX_CONF_UNSET_MSEC;
    conf->retry_after = NGX_CONF_UNSET;
}

void queue_conf_init(QueueConf* conf) noexcept
{
    if (conf->redis == NGX_CONF_UNSET_PTR) {
        conf->redis = nullptr;
    }
    if (conf->wait_timeout == NGX_CONF_UNSET_MSEC) {
        conf->wait_timeout = 120000;
    }
    if (conf->redis_timeout == NGX_CONF_UNSET_MSEC) {
        conf->redis_timeout = 5000;
    }
    if (conf->retry_after == NGX_CONF_UNSET) {
        conf->retry_after = 10;
    }
}

char* queue_set_redis(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept
{
    auto* qc =
        reinterpret_cast<QueueConf*>(static_cast<char*>(conf) + cmd->offset);
    if (qc->redis != NGX_CONF_UNSET_PTR) {
        return const_cast<char*>("is duplicate");
    }
    auto* value = static_cast<ngx_str_t*>(cf->args->elts) + 1;
    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        ngx_url_t u{};
        u.url = *value;
        u.no_resolve = 1;
        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis socket \"%V\"%s%s", value,
                               u.err ? ": " : "", u.err ? u.err : "");
            return static_cast<char*>(NGX_CONF_ERROR);
        }
        qc->redis = &u.addrs[0];
        return NGX_CONF_OK;
    }
    auto* addr =
        static_cast<ngx_addr_t*>(ngx_pcalloc(cf->pool, sizeof(ngx_addr_t)));
    if (addr == nullptr) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    ngx_int_t rc = ngx_parse_addr_port(cf->pool, addr, value->data, value->len);
    if (rc != NGX_OK) {
        // Host names would need a resolver in the worker; refuse them.
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\": an IP address "
                           "with a port, or unix:/path, is required",
                           value);
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    if (ngx_inet_get_port(addr->sockaddr) == 0) {
        ngx_inet_set_port(addr->sockaddr, 6379);
    }
    addr->name = *value;
    qc->redis = addr;
    return NGX_CONF_OK;
}

char* queue_set_redis_auth(ngx_conf_t* cf, ngx_command_t* cmd,
                           void* conf) noexcept
{
    auto* qc =
        reinterpret_cast<QueueConf*>(static_cast<char*>(conf) + cmd->offset);
    if (qc->auth_password.data != nullptr) {
        return const_cast<char*>("is duplicate");
    }
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (cf->args->nelts == 3) {
        qc->auth_user = value[1];
        qc->auth_password = value[2];
    } else {
        qc->auth_password = value[1];
    }
    if (qc->auth_password.len == 0) {
        return const_cast<char*>("needs a password");
    }
    return NGX_CONF_OK;
}

ngx_int_t queue_init_process(ngx_cycle_t* cycle, const QueueConf* conf) noexcept
{
    if (conf == nullptr || conf->redis == nullptr) {
        return NGX_OK;
    }
    try {
        worker_queue = new Queue(*conf, cycle->log);
    } catch (...) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "nixery: cannot create the build queue client");
        return NGX_ERROR;
    }
    worker_queue->start();
    return NGX_OK;
}

void queue_exit_process(ngx_cycle_t*) noexcept
{
    Queue* q = worker_queue;
    worker_queue = nullptr;
    delete q;
}

ngx_int_t queue_wait_for_image(ngx_http_request_t* r,
                               const ImageRequest& request,
                               std::string_view) noexcept
try {
    if (worker_queue == nullptr) {
        return send_error(r, ErrorCode::manifest_unknown,
                          "image " + request.name + ":" + request.tag +
                              " is not in storage and no build queue is "
                              "configured");
    }
    if (!worker_queue->ready() && !worker_queue->starting()) {
        stat_add(Stat::unavailable);
        return send_unavailable(r, "the build queue is unavailable",
                                worker_queue->conf().retry_after);
    }
    return worker_queue->park(r, request);
} catch (...) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

} // namespace nixery
