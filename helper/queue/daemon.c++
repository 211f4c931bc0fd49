#include "queue/daemon.h"

#include "base/log.h"
#include "queue/metrics.h"
#include "queue_schema.h"
#include "storage_layout.h"

#include <csignal>
#include <unistd.h>

namespace nixery::queue {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::int64_t unix_now()
{
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t unix_now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// An index entry that still serves the request, if storage has one: a
// duplicate job (enqueued just after a build finished) costs no build. An
// entry that cannot be read is no entry: the build rewrites it.
bool already_built(Storage& storage, const std::string& key)
{
    std::optional<std::string> text;
    try {
        text = storage.get(index_path(key), max_index_entry_size);
    } catch (const StorageError& e) {
        log::warn("index entry unreadable: building",
                  {{"key", key}, {"error", e.what()}});
    }
    std::optional<IndexEntry> entry =
        text ? parse_index_entry(*text) : std::nullopt;
    return entry && !entry->expired(unix_now());
}

std::string image_name(const Job& job)
{
    return job.name + ":" + job.tag;
}

// The negative cache: the request's packages recently found unknown.
std::vector<std::string> cached_unknown(RedisClient& redis,
                                        const ImageRequest& request)
{
    std::vector<std::string> argv{"MGET"};
    for (const std::string& p : request.packages) {
        argv.push_back(unknown_key(request.arch, request.tag, p));
    }
    Reply cached = redis.checked(argv);
    std::vector<std::string> unknown;
    for (std::size_t i = 0; i < cached->elements; ++i) {
        if (!reply_is_nil(cached->element[i])) {
            unknown.push_back(request.packages[i]);
        }
    }
    return unknown;
}

} // namespace

std::string default_helper_id()
{
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) {
        host[0] = '\0';
    }
    return std::string(host[0] ? host : "helper") + "-" +
           std::to_string(getpid());
}

Daemon::Daemon(DaemonOptions options, Storage& storage, Builder builder)
    : options_(std::move(options)), storage_(storage),
      builder_(std::move(builder))
{
    if (options_.helper_id.empty()) {
        options_.helper_id = default_helper_id();
    }
    if (options_.concurrency == 0) {
        options_.concurrency = 1;
    }
    if (!options_.pinned) {
        options_.pinned = [](const std::string&) { return false; };
    }
    board_ = std::make_unique<ProgressBoard>(options_.redis, options_.helper_id,
                                             options_.heartbeat);
}

Daemon::~Daemon()
{
    request_stop();
    join();
}

std::chrono::milliseconds Daemon::claim_idle() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        options_.heartbeat * 3);
}

void Daemon::start()
{
    // A write to a Redis connection that just died must be an error to
    // handle (reconnect), not a signal that ends the process.
    std::signal(SIGPIPE, SIG_IGN);
    started_ = unix_now();
    running_ = options_.concurrency + 1;
    for (unsigned i = 0; i < options_.concurrency; ++i) {
        threads_.emplace_back([this, i] { run_worker(i); });
    }
    threads_.emplace_back([this] { run_heartbeat(); });
    log::info("helper started", {{"helper", options_.helper_id},
                                 {"redis", options_.redis},
                                 {"concurrency", options_.concurrency}});
}

void Daemon::request_stop() noexcept
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
}

bool Daemon::sleep_unless_stopping(std::chrono::milliseconds ms)
{
    std::unique_lock lock(mutex_);
    return !cv_.wait_for(lock, ms, [this] { return stopping_.load(); });
}

bool Daemon::wait_for(std::chrono::milliseconds timeout)
{
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return running_ == 0; });
}

void Daemon::join()
{
    for (std::thread& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
    threads_.clear();
}

void Daemon::hand_back() noexcept
try {
    std::map<std::string, long long> held;
    {
        std::lock_guard lock(mutex_);
        held = held_;
    }
    if (held.empty()) {
        return;
    }
    RedisClient redis(options_.redis, 2s);
    for (const auto& [id, deliveries] : held) {
        // Mark the entry idle long enough for XAUTOCLAIM and undo this
        // delivery's count: handing back is not a failed attempt.
        redis.command(
            {"XCLAIM", std::string(jobs_stream), std::string(helpers_group),
             options_.helper_id, "0", id, "IDLE",
             std::to_string(claim_idle().count()), "RETRYCOUNT",
             std::to_string(deliveries > 0 ? deliveries - 1 : 0), "JUSTID"});
        log::info("job handed back",
                  {{"helper", options_.helper_id}, {"job", id}});
    }
} catch (const std::exception& e) {
    log::error("hand back failed", {{"error", e.what()}});
}

// A dead helper's job, idle for three heartbeats, with its delivery count.
std::optional<Daemon::Entry> Daemon::take_over_abandoned(RedisClient& redis,
                                                         std::string& cursor)
{
    Reply claimed = redis.checked(
        {"XAUTOCLAIM", std::string(jobs_stream), std::string(helpers_group),
         options_.helper_id, std::to_string(claim_idle().count()), cursor,
         "COUNT", "1"});
    std::optional<StreamEntry> e = autoclaim_entry(claimed.get(), cursor);
    if (!e) {
        return std::nullopt;
    }
    Entry entry{std::move(*e)};
    Reply pending =
        redis.checked({"XPENDING", std::string(jobs_stream),
                       std::string(helpers_group), entry.id, entry.id, "1"});
    entry.deliveries = pending_deliveries(pending.get()).value_or(1);
    log::warn("job taken over",
              {{"job", entry.id}, {"deliveries", entry.deliveries}});
    return entry;
}

// A new job, waiting up to a second for one.
std::optional<Daemon::Entry> Daemon::read_new(RedisClient& redis)
{
    Reply read =
        redis.checked({"XREADGROUP", "GROUP", std::string(helpers_group),
                       options_.helper_id, "COUNT", "1", "BLOCK", "1000",
                       "STREAMS", std::string(jobs_stream), ">"});
    std::optional<StreamEntry> e = read_group_entry(read.get());
    if (!e) {
        if (read->type != REDIS_REPLY_NIL) {
            log::warn("queue: unexpected XREADGROUP reply, ignored",
                      {{"type", static_cast<long long>(read->type)}});
        }
        return std::nullopt;
    }
    return Entry{std::move(*e)};
}

void Daemon::run_worker(unsigned index) noexcept
{
    std::unique_ptr<RedisClient> redis;
    std::string cursor = "0-0";
    auto backoff = 100ms;
    while (!stopping_) {
        try {
            if (!redis) {
                redis = std::make_unique<RedisClient>(options_.redis, 5s);
                // MKSTREAM and id 0: jobs enqueued before the first helper
                // ever started are consumed too. BUSYGROUP is fine.
                redis->command({"XGROUP", "CREATE", std::string(jobs_stream),
                                std::string(helpers_group), "0", "MKSTREAM"});
                backoff = 100ms;
                log::debug("worker connected", {{"worker", index}});
            }
            // A dead helper's jobs first: they have waited longest.
            std::optional<Entry> entry = take_over_abandoned(*redis, cursor);
            if (!entry) {
                entry = read_new(*redis);
            }
            if (entry) {
                {
                    std::lock_guard lock(mutex_);
                    held_[entry->id] = entry->deliveries;
                }
                process(*redis, *entry);
                std::lock_guard lock(mutex_);
                held_.erase(entry->id);
            }
        } catch (const std::exception& e) {
            log::warn("redis unavailable", {{"worker", index},
                                            {"redis", options_.redis},
                                            {"error", e.what()}});
            redis.reset();
            {
                std::lock_guard lock(mutex_);
                // What this thread held stays pending in Redis; another
                // helper (or this one) claims it once it is idle.
                held_.clear();
            }
            sleep_unless_stopping(backoff);
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, 2s);
        }
    }
    {
        std::lock_guard lock(mutex_);
        --running_;
    }
    cv_.notify_all();
}

struct Daemon::Verdict {
    std::string outcome; // for the log: built, cached, unknown, failed...
    Result result;
    std::chrono::seconds ttl{result_ttl_seconds}; // of the result key
};

void Daemon::process(RedisClient& redis, const Entry& entry)
{
    auto started = Clock::now();
    std::optional<Job> job = parse_job(entry.job_text);
    if (!job) {
        log::error("malformed job dropped", {{"job", entry.id}});
        metrics().job_done("malformed");
        redis.checked({"XACK", std::string(jobs_stream),
                       std::string(helpers_group), entry.id});
        redis.checked({"XDEL", std::string(jobs_stream), entry.id});
        return;
    }
    std::int64_t started_ms = unix_now_ms();
    Verdict v = judge(redis, entry, *job);
    if (v.outcome == "failed" || v.outcome == "unavailable" ||
        v.outcome == "abandoned") {
        board_->failed(*job, v.result, started_ms);
    }
    std::string text = format_result(v.result);
    Reply r = redis.checked(
        {"EVAL", std::string(complete_script), "3", result_key(job->key),
         inflight_key(job->key), std::string(jobs_stream), text,
         std::to_string(std::max<long long>(v.ttl.count(), 1)),
         std::string(done_channel), std::string(helpers_group), entry.id});
    ++jobs_done_;
    metrics().job_done(v.outcome);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  Clock::now() - started)
                  .count();
    log::emit(v.result.ok ? log::Level::info : log::Level::warn, "job done",
              {{"image", image_name(*job)},
               {"job", entry.id},
               {"key", job->key},
               {"outcome", v.outcome},
               {"duration_ms", ms},
               {"deliveries", entry.deliveries},
               {"detail", v.result.ok ? std::string() : v.result.message},
               {"waiters", r->integer}});
}

// Why the job needs no build (abandoned, inconsistent, already built, its
// packages recently unknown), or else the build's verdict.
Daemon::Verdict Daemon::judge(RedisClient& redis, const Entry& entry,
                              const Job& job)
{
    ParseResult parsed = parse_image_request(job.name, job.tag);
    if (entry.deliveries > static_cast<long long>(options_.max_deliveries)) {
        return {"abandoned",
                failure_result(
                    job.key, "image build abandoned",
                    "the build was attempted " +
                        std::to_string(entry.deliveries) +
                        " times and never finished (the helper died each "
                        "time)")};
    }
    if (parsed.error != NameError::none ||
        canonical_key(parsed.request) != job.key) {
        return {"rejected",
                failure_result(job.key, "invalid build job",
                               "the job's name, tag and key disagree "
                               "(module and helper of different versions?)")};
    }
    if (already_built(storage_, job.key)) {
        return {"cached", ok_result(job.key)};
    }
    const ImageRequest& request = parsed.request;
    std::vector<std::string> unknown = cached_unknown(redis, request);
    if (!unknown.empty()) {
        return {"unknown-cached",
                unknown_packages_result(job.key, std::move(unknown)),
                options_.unknown_ttl};
    }
    return build(redis, entry, job, request);
}

Daemon::Verdict Daemon::build(RedisClient& redis, const Entry& entry,
                              const Job& job, const ImageRequest& request)
{
    BuildContext context{
        entry.id,
        options_.pinned(job.tag) ? 0 : unix_now() + options_.moving_ttl.count(),
        {}};
    log::info("build started",
              {{"image", image_name(job)},
               {"job", entry.id},
               {"key", job.key},
               {"queued_ms", unix_now_ms() - job.enqueued_ms}});
    board_->begin(job);
    context.progress = [this, &job](std::string_view phase, std::size_t layer,
                                    std::size_t layers) {
        board_->phase(job.key, phase, layer, layers);
    };
    BuildOutcome built;
    metrics().build_started();
    auto started = Clock::now();
    try {
        built = builder_(request, context);
    } catch (const std::exception& e) {
        built.status = BuildOutcome::Status::failed;
        built.message = "image build failed";
        built.detail = e.what();
    }
    metrics().build_finished(
        std::chrono::duration<double>(Clock::now() - started).count());
    board_->end(job.key);
    switch (built.status) {
    case BuildOutcome::Status::ok:
        return {"built", ok_result(job.key)};
    case BuildOutcome::Status::not_found:
        if (built.unknown.empty()) {
            // Nothing to name: report it as the failure it is.
            return {"failed", failure_result(job.key, "image build failed",
                                             built.message)};
        }
        for (const std::string& p : built.unknown) {
            redis.checked({"SET", unknown_key(request.arch, request.tag, p),
                           "1", "EX",
                           std::to_string(options_.unknown_ttl.count())});
        }
        return {"unknown", unknown_packages_result(job.key, built.unknown),
                options_.unknown_ttl};
    case BuildOutcome::Status::failed:
        break;
    }
    Verdict v{"failed",
              failure_result(job.key,
                             built.message.empty() ? "image build failed"
                                                   : built.message,
                             built.detail)};
    if (built.code != ErrorCode::unknown) {
        // The request's own error: remembered like unknown packages, so a
        // retry loop does not run Nix again.
        v.outcome = "unavailable";
        v.result.code = built.code;
        v.ttl = options_.unknown_ttl;
    }
    return v;
}

void Daemon::run_heartbeat() noexcept
{
    std::unique_ptr<RedisClient> redis;
    std::string key = heartbeat_key(options_.helper_id);
    while (true) {
        // Beat until the workers are gone: a graceful stop still finishes
        // (and so still holds) running builds.
        bool stop;
        {
            std::lock_guard lock(mutex_);
            stop = stopping_ && running_ == 1;
        }
        try {
            if (!redis) {
                redis = std::make_unique<RedisClient>(options_.redis, 2s);
            }
            std::map<std::string, long long> held;
            {
                std::lock_guard lock(mutex_);
                held = held_;
            }
            if (stop) {
                redis->command({"DEL", key});
            } else {
                std::string value =
                    "{\"helper\":\"" + options_.helper_id +
                    "\",\"pid\":" + std::to_string(getpid()) +
                    ",\"started\":" + std::to_string(started_) +
                    ",\"concurrency\":" + std::to_string(options_.concurrency) +
                    ",\"busy\":" + std::to_string(held.size()) +
                    ",\"jobs_done\":" + std::to_string(jobs_done_.load()) + "}";
                redis->checked(
                    {"SET", key, value, "EX",
                     std::to_string(options_.heartbeat.count() * 3)});
            }
            board_->refresh();
            // Keep the jobs we hold from looking abandoned: claiming them
            // again resets their idle time without counting a delivery.
            for (const auto& entry : held) {
                redis->command({"XCLAIM", std::string(jobs_stream),
                                std::string(helpers_group), options_.helper_id,
                                "0", entry.first, "JUSTID"});
            }
        } catch (const std::exception& e) {
            redis.reset();
            log::warn("heartbeat failed", {{"error", e.what()}});
        }
        if (stop) {
            break;
        }
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, options_.heartbeat,
                     [this] { return stopping_ && running_ == 1; });
    }
    {
        std::lock_guard lock(mutex_);
        --running_;
    }
    cv_.notify_all();
}

} // namespace nixery::queue
