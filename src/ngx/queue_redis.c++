// The Redis side of the build queue (queue_client.h): the worker's two
// connections, the enqueue script, and the replies and announcements that
// end a wait. Whatever cannot be sent or read ends the waits it concerns
// at once, with a log line naming the image's key.
#include "ngx/bucket.h"
#include "ngx/queue_client.h"

#include "ngx/serve.h"
#include "ngx/stats.h"

#include "queue_reply.h"

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

namespace nixery {

namespace {

// The subscriber connection only ever receives: a PING now and then
// (answered within nixery_redis_timeout) tells a silently dead one from a
// quiet one, so its waiters are not left hanging.
constexpr ngx_msec_t ping_interval = 10000;

// At most one "queue is full" line per this many milliseconds.
constexpr ngx_msec_t full_log_interval = 1000;

// A worker asks for the background rebuild of one stale image at most
// once per this many milliseconds (queue.h), and remembers up to
// refreshed_max such keys.
constexpr ngx_msec_t refresh_interval = 5000;
constexpr std::size_t refreshed_max = 4096;

// How much of an unreadable result a log line quotes.
constexpr std::size_t quoted_max = 200;

const Failure unreadable_result{ErrorCode::unknown,
                                "the build result could not be read"};

std::string auth_command(const QueueConf& conf)
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

} // namespace

Queue::Queue(const QueueConf& conf, ngx_log_t* log)
    : conf_(conf), log_(log), cmd_("command", conf.redis, conf.redis_timeout,
                                   *this, log, auth_command(conf)),
      sub_("subscriber", conf.redis, conf.redis_timeout, *this, log,
           auth_command(conf))
{
    worker_id_.assign(reinterpret_cast<char*>(ngx_cycle->hostname.data),
                      ngx_cycle->hostname.len);
    worker_id_ += "-" + std::to_string(ngx_pid);
}

Queue::~Queue()
{
    if (ping_.timer_set) {
        ngx_del_timer(&ping_);
    }
    if (outage_.timer_set) {
        ngx_del_timer(&outage_);
    }
    if (unsent_.posted) {
        ngx_delete_posted_event(&unsent_);
    }
    if (waiters_flush_.timer_set) {
        ngx_del_timer(&waiters_flush_);
    }
    if (counted_ready_) {
        stat_add(Stat::redis_workers, -1);
    }
}

void Queue::start() noexcept
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
    unsent_.handler = answer_unsent;
    unsent_.data = this;
    unsent_.log = log_;
    waiters_flush_.handler = flush_waiters;
    waiters_flush_.data = this;
    waiters_flush_.log = log_;
    waiters_flush_.cancelable = 1;
}

// Keep the shared count of workers with Redis up in step.
void Queue::count_ready() noexcept
{
    bool up = ready();
    if (up != counted_ready_) {
        stat_add(Stat::redis_workers, up ? 1 : -1);
        counted_ready_ = up;
    }
}

void Queue::on_ping(ngx_event_t* ev) noexcept
{
    auto* q = static_cast<Queue*>(ev->data);
    if (ngx_exiting || ngx_terminate) {
        return;
    }
    if (q->subscribed_ && q->sub_.owed() == 0) {
        // format_command() throws only when memory runs out; the next
        // ping tries again.
        try {
            q->sub_.send(format_command({"PING"}), 1);
        } catch (const std::exception& e) {
            ngx_log_error(NGX_LOG_ERR, q->log_, 0,
                          "nixery: cannot send a PING to redis: %s", e.what());
        } catch (...) {
            ngx_log_error(NGX_LOG_ERR, q->log_, 0,
                          "nixery: cannot send a PING to redis: unknown "
                          "exception");
        }
    }
    // Keep this worker's waiting counts from expiring.
    q->count_all_waiters();
    ngx_add_timer(&q->ping_, ping_interval);
}

// A connection lost with requests waiting: they wait for it to come back
// for up to nixery_redis_timeout, then get 503.
void Queue::on_outage(ngx_event_t* ev) noexcept
{
    auto* q = static_cast<Queue*>(ev->data);
    if (!q->ready()) {
        q->fail_all({ErrorCode::unavailable, "the build queue is unavailable"});
    }
}

// Run the enqueue script for `key`. Never answers a request itself (callers
// walk the table): a job that cannot be sent marks its entry and posts
// answer_unsent(), which gives its waiters 503 at once.
void Queue::send_enqueue(const std::string& key, KeyEntry& entry,
                         bool drop_result) noexcept
{
    try {
        send_script(key, entry.job, drop_result, false);
        entry.sent = true;
    } catch (const std::exception& e) {
        // Only an allocation failure gets here (formatting the command).
        unsendable(key, entry, e.what());
    } catch (...) {
        unsendable(key, entry, "unknown exception");
    }
}

// Send the enqueue script for `key` with `job`; `refresh` marks a
// background rebuild, whose reply no request waits for. Throws only when
// memory runs out, before anything is sent or recorded.
void Queue::send_script(const std::string& key, const std::string& job,
                        bool drop_result, bool refresh)
{
    std::string result = queue::result_key(key);
    std::string inflight = queue::inflight_key(key);
    std::string ttl = std::to_string(queue::inflight_ttl_seconds);
    std::string max = std::to_string(conf_.max_length);
    std::string eval = format_command(
        {"EVAL", queue::enqueue_script, "3", result, inflight,
         queue::jobs_stream, job, ttl, drop_result ? "drop-result" : "", max});
    pending_.push_back(
        {refresh ? Pending::Kind::refresh : Pending::Kind::enqueue, key});
    cmd_.send(eval, 1);
}

// A stale image was served (queue.h): ask for its rebuild, once per key
// per refresh_interval on this worker. The enqueue script does the rest:
// a build already queued or running (the in-flight marker), or a result
// stored within its lifetime (a build that just ended), adds no job.
void Queue::refresh(const ImageRequest& request, std::string_view key)
{
    if (!ready()) {
        return; // the next stale pull asks again
    }
    std::string k(key);
    if (keys_.find(k) != keys_.end()) {
        return; // requests here wait for its build: it is asked for
    }
    ngx_msec_t now = ngx_current_msec;
    auto it = refreshed_.find(k);
    if (it != refreshed_.end() && now - it->second < refresh_interval) {
        return;
    }
    if (it == refreshed_.end() && refreshed_.size() >= refreshed_max) {
        // Forget the keys asked for long enough ago; if every one is
        // recent, ask anyway without remembering (Redis keeps it one job).
        std::erase_if(refreshed_, [now](const auto& kv) {
            return now - kv.second >= refresh_interval;
        });
    }
    ngx_time_t* t = ngx_timeofday();
    queue::Job job =
        queue::make_job(request, static_cast<std::int64_t>(t->sec) * 1000 +
                                     static_cast<std::int64_t>(t->msec));
    std::string text = queue::format_job(job);
    if (it != refreshed_.end()) {
        it->second = now;
    } else if (refreshed_.size() < refreshed_max) {
        refreshed_.emplace(k, now);
    }
    send_script(k, text, false, true);
}

void Queue::unsendable(const std::string& key, KeyEntry& entry,
                       const char* what) noexcept
{
    ngx_log_error(NGX_LOG_ERR, log_, 0,
                  "nixery: cannot send the job for image %s to the build "
                  "queue: %s",
                  key.c_str(), what);
    entry.unsendable = true;
    if (!unsent_.posted) {
        ngx_post_event(&unsent_, &ngx_posted_events);
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
        if (!entry.sent && !entry.unsendable && ready()) {
            send_enqueue(key, entry);
        }
    }
    count_all_waiters();
}

// Something announced on the channel could not be read, so which image it
// was for is unknown. The complete script stores a result before it
// announces it: running the enqueue script again for every image waited on
// fetches the stored one, and on_enqueue_reply() answers its waiters.
void Queue::ask_again() noexcept
{
    if (!ready()) {
        return; // every job is sent again once the connections are back
    }
    for (auto& [key, entry] : keys_) {
        if (entry.sent && !entry.unsendable) {
            send_enqueue(key, entry);
        }
    }
}

void Queue::dispatch(const queue::Result& result) noexcept
{
    auto it = keys_.find(result.key);
    if (it == keys_.end()) {
        return;
    }
    KeyEntry& entry = it->second;
    // With a bucket, the image is in the bucket, not yet on this host: the
    // resumed requests fetch it (bucket_fetch.c++), so the local check
    // below would only send every build twice.
    if (result.ok && !entry.rebuilt && entry.head != nullptr &&
        !bucket_enabled(entry.head->r) &&
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
    answer_all(it, &result, {ErrorCode::unknown, nullptr});
}

// A result stored for `key` that parse_result() rejects (or that names
// another key): its waiters would otherwise wait out nixery_wait_timeout.
void Queue::on_unreadable(const std::string& key,
                          std::string_view text) noexcept
{
    ngx_log_error(NGX_LOG_ERR, log_, 0,
                  "nixery: the build result stored for image %s could not "
                  "be read: \"%*s\"",
                  key.c_str(), std::min(text.size(), quoted_max), text.data());
    fail_key(key, unreadable_result);
}

void Queue::on_connected(RedisConn& conn)
{
    if (&conn == &sub_) {
        conn.send(format_command({"SUBSCRIBE", queue::done_channel}), 1);
    } else {
        became_ready();
    }
}

// On the subscriber connection: the subscription, then announcements.
void Queue::on_message(redisReply* reply)
{
    queue::Announcement a = queue::read_announcement(reply);
    if (a.kind == queue::Announcement::Kind::subscribed) {
        subscribed_ = true;
        ngx_log_error(NGX_LOG_INFO, log_, 0,
                      "nixery: subscribed to build results");
        became_ready();
        return;
    }
    if (a.kind != queue::Announcement::Kind::message) {
        return;
    }
    std::string_view text = a.text;
    if (auto result = queue::parse_result(text)) {
        dispatch(*result);
        return;
    }
    ngx_log_error(NGX_LOG_ERR, log_, 0,
                  "nixery: an unreadable build result was announced: "
                  "\"%*s\"; asking redis again for the %uz images waited on",
                  std::min(text.size(), quoted_max), text.data(), keys_.size());
    ask_again();
}

// On the command connection: the enqueue script's answer for `key`.
void Queue::on_enqueue_reply(const std::string& key, redisReply* reply)
{
    queue::EnqueueAnswer a = queue::read_enqueue_answer(reply);
    if (a.kind == queue::EnqueueAnswer::Kind::refused) {
        ngx_log_error(NGX_LOG_ERR, log_, 0,
                      "nixery: the build queue refused the job for image %s: "
                      "%*s",
                      key.c_str(), a.text.size(), a.text.data());
        fail_key(key,
                 {ErrorCode::unavailable, "the build queue refused the job"});
        return;
    }
    if (a.kind == queue::EnqueueAnswer::Kind::full) {
        // Back-pressure: the queue holds nixery_queue_max_length jobs. The
        // clients come back after Retry-After; cached images, and images
        // already queued, are served as usual meanwhile.
        // A flood refuses thousands of names a second: one line a second
        // at most, counting the ones it leaves out (nixery_status counts
        // every refused request).
        log_full(key, a.text);
        fail_key(key,
                 {ErrorCode::too_many_requests, "the build queue is full"});
        return;
    }
    if (a.kind == queue::EnqueueAnswer::Kind::result) {
        // The image was built (or failed) just before we asked.
        auto result = queue::parse_result(a.text);
        if (!result || result->key != key) {
            on_unreadable(key, a.text);
            return;
        }
        dispatch(*result);
    }
}

// "The build queue is full" for `key`, at most one line a second.
void Queue::log_full(const std::string& key, std::string_view n) noexcept
{
    if (full_logged_ != 0 &&
        ngx_current_msec - full_logged_ < full_log_interval) {
        ++full_unlogged_;
        return;
    }
    ngx_log_error(NGX_LOG_WARN, log_, 0,
                  "nixery: the build queue is full (%*s jobs, "
                  "nixery_queue_max_length %i): refused image %s "
                  "and %ui more since the last such line",
                  n.size(), n.data(), conf_.max_length, key.c_str(),
                  full_unlogged_);
    full_logged_ = ngx_current_msec;
    full_unlogged_ = 0;
}

// On the command connection: the answer to a background rebuild. No
// request waits for it, so it only tells the log what happened; a stored
// result is left for the requests that may wait on it.
void Queue::on_refresh_reply(const std::string& key, redisReply* reply)
{
    queue::EnqueueAnswer a = queue::read_enqueue_answer(reply);
    switch (a.kind) {
    case queue::EnqueueAnswer::Kind::queued:
        ngx_log_error(NGX_LOG_INFO, log_, 0,
                      "nixery: image %s served past its expiry: rebuilding "
                      "it in the background (job %*s)",
                      key.c_str(), a.text.size(), a.text.data());
        break;
    case queue::EnqueueAnswer::Kind::full:
        // The next stale pull after refresh_interval asks again.
        log_full(key, a.text);
        break;
    case queue::EnqueueAnswer::Kind::refused:
        ngx_log_error(NGX_LOG_ERR, log_, 0,
                      "nixery: the build queue refused the background "
                      "rebuild of image %s: %*s",
                      key.c_str(), a.text.size(), a.text.data());
        break;
    default:
        break; // a build is running, or has just ended
    }
}

namespace {

void read_cleanup(void* data) noexcept
{
    auto* w = static_cast<ReadWait*>(data);
    if (worker_queue != nullptr && w->id != 0) {
        worker_queue->forget_read(w);
    }
}

} // namespace

ngx_int_t Queue::park_read(ngx_http_request_t* r, const std::string& command,
                           ReadWait::Answer answer, void* data)
{
    std::uint64_t id = ++read_seq_;
    reads_.emplace(id, nullptr);
    ngx_http_cleanup_t* cln = ngx_http_cleanup_add(r, sizeof(ReadWait));
    if (cln == nullptr) {
        reads_.erase(id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    auto* w = static_cast<ReadWait*>(cln->data);
    w->r = r;
    w->id = id;
    w->answer = answer;
    w->data = data;
    reads_[id] = w;
    cln->handler = read_cleanup;
    try {
        // Only what is sent has an entry: replies stay in step.
        pending_.push_back({Pending::Kind::read, {}, id});
    } catch (...) {
        forget_read(w);
        throw;
    }
    // Notice a client that goes away; write nothing until answered.
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
    r->main->count++;
    cmd_.send(command, 1);
    return NGX_DONE;
}

void Queue::forget_read(ReadWait* w) noexcept
{
    reads_.erase(w->id);
    w->id = 0;
}

void Queue::on_read_reply(std::uint64_t id, const redisReply* reply) noexcept
{
    auto it = reads_.find(id);
    if (it == reads_.end()) {
        return; // the client went away
    }
    ReadWait* w = it->second;
    reads_.erase(it);
    w->id = 0;
    ngx_http_request_t* r = w->r;
    ngx_connection_t* c = r->connection;
    ngx_http_finalize_request(r, w->answer(r, w->data, reply));
    ngx_http_run_posted_requests(c);
}

// The command connection is gone: the replies will never come.
void Queue::fail_reads() noexcept
{
    while (!reads_.empty()) {
        auto it = reads_.begin();
        ReadWait* w = it->second;
        reads_.erase(it);
        w->id = 0;
        ngx_http_request_t* r = w->r;
        ngx_connection_t* c = r->connection;
        ngx_http_finalize_request(r, w->answer(r, w->data, nullptr));
        ngx_http_run_posted_requests(c);
    }
}

void Queue::on_reply(RedisConn& conn, redisReply* reply)
{
    if (&conn == &sub_) {
        try {
            on_message(reply);
        } catch (const std::exception& e) {
            message_failed(e.what());
        } catch (...) {
            message_failed("unknown exception");
        }
        return;
    }
    if (pending_.empty()) {
        return;
    }
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    if (p.kind == Pending::Kind::read) {
        on_read_reply(p.id, reply);
        return;
    }
    if (p.kind == Pending::Kind::ignore) {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_WARN, log_, 0,
                          "nixery: counting waiting clients in redis "
                          "failed: %*s",
                          reply->len, reply->str);
        }
        return;
    }
    const std::string& key = p.key;
    try {
        if (p.kind == Pending::Kind::refresh) {
            on_refresh_reply(key, reply);
        } else {
            on_enqueue_reply(key, reply);
        }
    } catch (const std::exception& e) {
        enqueue_reply_failed(key, e.what());
    } catch (...) {
        enqueue_reply_failed(key, "unknown exception");
    }
}

// Only an allocation failure gets here (parsing an announcement): the
// result it carried may be lost, so ask for every awaited one again.
void Queue::message_failed(const char* what) noexcept
{
    ngx_log_error(NGX_LOG_ERR, log_, 0,
                  "nixery: handling a build announcement failed: %s", what);
    ask_again();
}

// Only an allocation failure gets here (parsing the stored result).
void Queue::enqueue_reply_failed(const std::string& key,
                                 const char* what) noexcept
{
    ngx_log_error(NGX_LOG_ERR, log_, 0,
                  "nixery: handling the build queue's answer for image %s "
                  "failed: %s",
                  key.c_str(), what);
    fail_key(key, unreadable_result);
}

void Queue::on_down(RedisConn& conn)
{
    if (&conn == &sub_) {
        subscribed_ = false;
    } else {
        pending_.clear();
        fail_reads();
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

bool queue_enabled() noexcept
{
    return worker_queue != nullptr;
}

void queue_refresh(const ImageRequest& request, std::string_view key) noexcept
{
    if (worker_queue == nullptr) {
        return;
    }
    try {
        worker_queue->refresh(request, key);
    } catch (const std::exception& e) {
        // Only an allocation failure gets here: the next stale pull asks.
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "nixery: cannot ask for the background rebuild of "
                      "image %*s: %s",
                      key.size(), key.data(), e.what());
    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "nixery: cannot ask for the background rebuild of "
                      "image %*s: unknown exception",
                      key.size(), key.data());
    }
}

ngx_int_t queue_init_process(ngx_cycle_t* cycle, const QueueConf* conf) noexcept
{
    if (conf == nullptr || conf->redis == nullptr) {
        return NGX_OK;
    }
    try {
        worker_queue = new Queue(*conf, cycle->log);
    } catch (const std::exception& e) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "nixery: cannot create the build queue client: %s",
                      e.what());
        return NGX_ERROR;
    } catch (...) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "nixery: cannot create the build queue client: "
                      "unknown exception");
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

} // namespace nixery
