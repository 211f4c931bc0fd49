// The waiting side of the build queue (queue_client.h): parking a request
// on its image's key, its wait timer and cleanup, and answering every
// request parked on a key, each finalized exactly once.
#include "ngx/queue_client.h"

#include "ngx/bucket.h"
#include "ngx/response.h"
#include "ngx/serve.h"
#include "ngx/stats.h"

#include <cstring>
#include <exception>

namespace nixery {

namespace {

// Answer one parked request: from storage (result ok), with the build's
// error, or with `failure` when there is no result.
ngx_int_t answer(ngx_http_request_t* r, std::string_view key,
                 const queue::Result* result, Failure failure,
                 time_t retry_after)
{
    if (result == nullptr) {
        if (failure.code == ErrorCode::unavailable ||
            failure.code == ErrorCode::too_many_requests) {
            return send_retry_later(r, failure.code, failure.why, retry_after);
        }
        return send_json(r, error_info(failure.code).status,
                         error_json(failure.code, failure.why));
    }
    if (!result->ok) {
        stat_add(Stat::failed);
        return send_json(r, error_info(result->code).status,
                         queue::result_error_json(*result));
    }
    ngx_int_t rc = serve_from_index(r, key);
    if (rc == NGX_DECLINED && bucket_enabled(r)) {
        // Fetched into the local cache, then served (counted there).
        return bucket_fetch_built(r, key);
    }
    if (rc != NGX_DECLINED) {
        stat_add(Stat::built);
        return rc;
    }
    // Announced as built, yet not in storage (deleted since, or the helper
    // writes to another storage): say so.
    stat_add(Stat::failed);
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "nixery: image %*s announced as built but not in "
                  "storage; is the helper's --storage this nixery_storage?",
                  key.size(), key.data());
    return send_json(
        r, NGX_HTTP_INTERNAL_SERVER_ERROR,
        error_json(ErrorCode::unknown, "image built but missing from storage"));
}

} // namespace

Queue* worker_queue = nullptr;

ngx_int_t send_unavailable(ngx_http_request_t* r, const char* why,
                           time_t retry_after) noexcept
{
    return send_retry_later(r, ErrorCode::unavailable, why, retry_after);
}

ngx_int_t send_retry_later(ngx_http_request_t* r, ErrorCode code,
                           const char* why, time_t retry_after) noexcept
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
    return send_json(
        r, error_info(code).status,
        error_json(code, why, "the image is not built yet; retry later"));
} catch (const std::exception& e) {
    // Only an allocation failure in error_json() gets here.
    return fail_request(r, "rendering a retry-later answer", e.what());
} catch (...) {
    return fail_request(r, "rendering a retry-later answer",
                        "unknown exception");
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
    count_waiters(it->first);

    // Notice a client that goes away; write nothing until resumed.
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
    r->main->count++;

    // One enqueue per image per worker; the script makes it one build
    // across all workers and hosts. Not ready yet: became_ready() sends it.
    // send_enqueue() never answers anyone itself, so `it` stays valid.
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
    if (w->key != nullptr) {
        count_waiters(*w->key);
    }
    if (--e->count == 0 && !e->detached) {
        // A lookup by the stored key itself: erase(*w->key) would destroy
        // the string it compares with.
        keys_.erase(keys_.find(*w->key));
    }
    w->key = nullptr;
}

// Answer a parked request (see answer()). Finalizes exactly once.
void Queue::finish(Waiter* w, const queue::Result* result,
                   Failure failure) noexcept
{
    unlink(w);
    ngx_http_request_t* r = w->r;
    ngx_connection_t* c = r->connection;
    // In the request's pool with the waiter: valid until finalized.
    std::string_view key(reinterpret_cast<char*>(w->request_key),
                         sizeof(w->request_key));
    ngx_int_t rc;
    try {
        rc = answer(r, key, result, failure, conf_.retry_after);
    } catch (const std::exception& e) {
        rc = fail_request(r, "answering a waiting request", e.what(), key);
    } catch (...) {
        rc = fail_request(r, "answering a waiting request", "unknown exception",
                          key);
    }
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}

// Answer every request parked on one key. Answering one may run any nginx
// code, including the cleanup of another waiter in the list (subrequests of
// one main request): the list is moved out of the table first and each
// waiter unlinks itself from it, so the walk never follows a freed waiter.
void Queue::answer_all(KeyTable::iterator it, const queue::Result* result,
                       Failure failure) noexcept
{
    KeyEntry batch;
    batch.head = it->second.head;
    batch.count = it->second.count;
    batch.detached = true;
    for (Waiter* w = batch.head; w != nullptr; w = w->next) {
        w->entry = &batch;
        w->key = nullptr;
    }
    count_waiters(it->first);
    keys_.erase(it);
    while (batch.head != nullptr) {
        if (result == nullptr) {
            stat_add(failure.code == ErrorCode::unavailable ? Stat::unavailable
                     : failure.code == ErrorCode::too_many_requests
                         ? Stat::queue_full
                         : Stat::failed);
        }
        finish(batch.head, result, failure);
    }
}

void Queue::fail_key(const std::string& key, Failure failure) noexcept
{
    auto it = keys_.find(key);
    if (it != keys_.end()) {
        answer_all(it, nullptr, failure);
    }
}

void Queue::fail_all(Failure failure) noexcept
{
    while (!keys_.empty()) {
        answer_all(keys_.begin(), nullptr, failure);
    }
}

// Posted by send_enqueue(): answer the requests whose job could not be sent,
// now rather than at their wait timeout. Answering may unlink other
// entries, so the walk starts over after each key.
void Queue::answer_unsent(ngx_event_t* ev) noexcept
{
    auto* q = static_cast<Queue*>(ev->data);
    for (auto it = q->keys_.begin(); it != q->keys_.end();) {
        if (it->second.unsendable) {
            q->answer_all(it, nullptr,
                          {ErrorCode::unavailable,
                           "the job could not be sent to the build queue"});
            it = q->keys_.begin();
        } else {
            ++it;
        }
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
                  "nixery: gave up waiting for a build of image %*s",
                  sizeof(w->request_key), w->request_key);
    stat_add(Stat::timed_out);
    worker_queue->finish(
        w, nullptr, {ErrorCode::unavailable, "image build still in progress"});
}

ngx_int_t queue_wait_for_image(ngx_http_request_t* r,
                               const ImageRequest& request,
                               std::string_view key) noexcept
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
} catch (const std::exception& e) {
    // park() throws before it touches the request or the table, and only
    // when memory runs out.
    return fail_request(r, "waiting for a build", e.what(), key);
} catch (...) {
    return fail_request(r, "waiting for a build", "unknown exception", key);
}

} // namespace nixery
