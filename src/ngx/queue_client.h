// Inside the module's build queue client (queue.h): the per-worker Queue
// object and the parked requests it answers, shared by the two files that
// implement it and by nothing else.
//
// queue_waiters.c++ holds the waiting side: parking a request, its timer
// and cleanup, answering every request parked on a key. queue_redis.c++
// holds the Redis side: the two connections, the enqueue script, the
// replies and announcements that end a wait. Both run on the worker's
// event loop only.
#pragma once

#include "ngx/ngx.h"

#include "ngx/queue.h"
#include "ngx/redis_conn.h"

#include "errors.h"
#include "queue_schema.h"

#include <cstdint>
#include <deque>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

namespace nixery {

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
    // The enqueue script could not even be formatted: its waiters are
    // answered from a posted event (answer_unsent()), never from inside
    // the code that walks the table.
    bool unsendable = false;
    // The job (format_job()), kept to be sent again.
    std::string job;
    // A result said "built" but the image was not in storage: its result
    // was dropped and the job sent again, once.
    bool rebuilt = false;
};

// How requests are answered when there is no build result to answer them
// with: 503 UNAVAILABLE or 429 TOOMANYREQUESTS with Retry-After (the
// client should come back), or any other code with its table status and
// `why` as the message.
struct Failure {
    ErrorCode code;
    const char* why;
};

using KeyTable = std::unordered_map<std::string, KeyEntry>;

// A request parked on the reply to one command it sent on the command
// connection (the build board, builds.h; tags/list, tags.h). Lives in the
// request's pool, inside its cleanup; trivially destructible.
struct ReadWait {
    // Answers the request from the reply, or from nothing (nullptr) when
    // the connection went down first; returns what finalizes it.
    using Answer = ngx_int_t (*)(ngx_http_request_t* r, void* data,
                                 const redisReply* reply) noexcept;
    ngx_http_request_t* r;
    std::uint64_t id; // its entry in Queue::reads_ (0: answered)
    Answer answer;
    void* data; // the caller's, in r->pool
};
static_assert(std::is_trivially_destructible_v<ReadWait>);

// What a reply on the command connection answers, in the order sent.
struct Pending {
    // refresh: a background rebuild (Queue::refresh), no request waits.
    // read: a parked request's command (ReadWait).
    enum class Kind { enqueue, refresh, read, ignore };
    Kind kind;
    std::string key;      // enqueue, refresh: the image's key
    std::uint64_t id = 0; // read: the ReadWait's id
};

class Queue final : public RedisHandler {
  public:
    Queue(const QueueConf& conf, ngx_log_t* log);
    ~Queue() override;

    void start() noexcept;

    bool ready() const noexcept
    {
        return cmd_.connected() && sub_.connected() && subscribed_;
    }

    // A worker that has just started is still connecting: requests wait
    // for the connections rather than getting 503 (until one fails).
    bool starting() const noexcept { return starting_; }

    const QueueConf& conf() const noexcept { return conf_; }

    // queue_redis.c++: send `command` (format_command()) and answer `r`
    // with `answer` when its reply comes (NGX_DONE: answered later); and
    // forget a parked request that went away.
    ngx_int_t park_read(ngx_http_request_t* r, const std::string& command,
                        ReadWait::Answer answer, void* data);
    void forget_read(ReadWait* w) noexcept;

    // queue_waiters.c++
    ngx_int_t park(ngx_http_request_t* r, const ImageRequest& request);
    // queue_redis.c++: queue_refresh() (queue.h).
    void refresh(const ImageRequest& request, std::string_view key);
    void unlink(Waiter* w) noexcept;
    void finish(Waiter* w, const queue::Result* result,
                Failure failure) noexcept;

    // RedisHandler (queue_redis.c++)
    void on_connected(RedisConn& conn) override;
    void on_reply(RedisConn& conn, redisReply* reply) override;
    void on_down(RedisConn& conn) override;

  private:
    // queue_waiters.c++
    void answer_all(KeyTable::iterator it, const queue::Result* result,
                    Failure failure) noexcept;
    void fail_key(const std::string& key, Failure failure) noexcept;
    void fail_all(Failure failure) noexcept;
    static void answer_unsent(ngx_event_t* ev) noexcept;
    // builds.c++: this worker's waiting clients per image, in Redis.
    void count_waiters(const std::string& key) noexcept;
    void count_all_waiters() noexcept;
    static void flush_waiters(ngx_event_t* ev) noexcept;

    // queue_redis.c++
    void on_read_reply(std::uint64_t id, const redisReply* reply) noexcept;
    void fail_reads() noexcept;
    static void on_ping(ngx_event_t* ev) noexcept;
    static void on_outage(ngx_event_t* ev) noexcept;
    void count_ready() noexcept;
    void send_enqueue(const std::string& key, KeyEntry& entry,
                      bool drop_result = false) noexcept;
    void send_script(const std::string& key, const std::string& job,
                     bool drop_result, bool refresh);
    void on_refresh_reply(const std::string& key, redisReply* reply);
    void log_full(const std::string& key, std::string_view length) noexcept;
    void became_ready() noexcept;
    void dispatch(const queue::Result& result) noexcept;
    void unsendable(const std::string& key, KeyEntry& entry,
                    const char* what) noexcept;
    void on_message(redisReply* reply);
    void on_enqueue_reply(const std::string& key, redisReply* reply);
    void on_unreadable(const std::string& key, std::string_view text) noexcept;
    void message_failed(const char* what) noexcept;
    void enqueue_reply_failed(const std::string& key,
                              const char* what) noexcept;
    void ask_again() noexcept;

    QueueConf conf_;
    ngx_log_t* log_;
    RedisConn cmd_;
    RedisConn sub_;
    bool subscribed_ = false;
    bool starting_ = true;
    bool counted_ready_ = false;
    KeyTable keys_;
    // What each command in flight on cmd_ was sent for, in order.
    std::deque<Pending> pending_;
    // Requests parked on a command's reply (ReadWait), by id.
    std::unordered_map<std::uint64_t, ReadWait*> reads_;
    std::uint64_t read_seq_ = 0;
    // Images whose waiting count changed since the last flush to Redis.
    std::unordered_set<std::string> waiters_dirty_;
    ngx_event_t waiters_flush_{};
    std::string worker_id_; // "<host>-<pid>": this worker's field
    // When this worker last asked for the background rebuild of a key
    // (ngx_current_msec): at most once per refresh_interval per key.
    std::unordered_map<std::string, ngx_msec_t> refreshed_;
    ngx_event_t ping_{};
    ngx_event_t outage_{};
    ngx_event_t unsent_{}; // posted: answer the unsendable keys' waiters
    // The last "queue is full" log line (0: none yet), and the refusals
    // left out of the log since.
    ngx_msec_t full_logged_ = 0;
    ngx_uint_t full_unlogged_ = 0;
};

// The worker's queue, made in init_process. A plain pointer: no non-POD
// global, nothing constructed at load time.
extern Queue* worker_queue;

// Request cleanup and wait timer of a parked request (queue_waiters.c++).
void waiter_cleanup(void* data) noexcept;
void waiter_timeout(ngx_event_t* ev) noexcept;

// 503 UNAVAILABLE with Retry-After: the client should come back.
ngx_int_t send_unavailable(ngx_http_request_t* r, const char* why,
                           time_t retry_after) noexcept;
// The same with another code: 429 TOOMANYREQUESTS when the queue is full.
ngx_int_t send_retry_later(ngx_http_request_t* r, ErrorCode code,
                           const char* why, time_t retry_after) noexcept;

} // namespace nixery
