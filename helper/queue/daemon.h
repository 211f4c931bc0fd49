// The helper daemon: consumes the build queue and publishes results.
//
// Jobs arrive on a Redis stream (queue_schema.h) read through a consumer
// group, so every job is delivered to one helper and stays pending until
// that helper acknowledges it. `concurrency` worker threads each hold one
// Redis connection and build one image at a time; a heartbeat thread keeps
// the helper's heartbeat key alive and refreshes the idle time of the jobs
// it holds. A job whose holder stops refreshing it (the helper died) is
// taken over with XAUTOCLAIM once idle for three heartbeats; a job delivered
// more than `max_deliveries` times ends with an error result instead of
// looping. Unknown packages are remembered for `unknown_ttl`, so a flood of
// bad names runs the builder once per name. docs/redis.md lists the keys.
#pragma once

#include "queue/builder.h"
#include "queue/progress.h"
#include "queue/redis.h"
#include "queue/stream_reply.h"
#include "queue_schema.h"
#include "storage/storage.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace nixery::queue {

struct DaemonOptions {
    std::string redis; // "host:port" or "unix:/path"
    unsigned concurrency = 1;
    std::chrono::seconds heartbeat{5};
    std::chrono::seconds unknown_ttl{60};
    std::chrono::seconds moving_ttl{3600};
    unsigned max_deliveries = 3;
    // True when images for `tag` come from a pinned source (index entries
    // never expire); otherwise they expire after moving_ttl.
    std::function<bool(const std::string& tag)> pinned;
    // The consumer name and heartbeat key suffix; default "<host>-<pid>".
    std::string helper_id;
};

// "<hostname>-<pid>": the default helper id.
std::string default_helper_id();

class Daemon {
  public:
    // `storage` (checked for an index entry before building: a duplicate
    // job costs no build) outlives the daemon.
    Daemon(DaemonOptions options, Storage& storage, Builder builder);
    ~Daemon(); // stops (gracefully) and joins if still running
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Start the worker and heartbeat threads. Redis need not be up: the
    // threads connect (and reconnect) with backoff.
    void start();
    // Stop taking jobs; running builds finish and are announced.
    void request_stop() noexcept;
    // Hand the jobs still held back to the group at once (made claimable
    // by any helper without counting a delivery), for a fast shutdown.
    void hand_back() noexcept;
    // Wait for every thread to end (after request_stop()).
    bool wait_for(std::chrono::milliseconds timeout);
    void join();

    const std::string& helper_id() const noexcept { return options_.helper_id; }
    std::uint64_t jobs_done() const noexcept { return jobs_done_.load(); }

  private:
    struct Entry : StreamEntry {
        long long deliveries = 1;
    };

    struct Verdict; // what became of a job, and for how long it stands

    void run_worker(unsigned index) noexcept;
    void run_heartbeat() noexcept;
    std::optional<Entry> take_over_abandoned(RedisClient& redis,
                                             std::string& cursor);
    std::optional<Entry> read_new(RedisClient& redis);
    void process(RedisClient& redis, const Entry& entry);
    Verdict judge(RedisClient& redis, const Entry& entry, const Job& job);
    Verdict build(RedisClient& redis, const Entry& entry, const Job& job,
                  const ImageRequest& request);
    bool sleep_unless_stopping(std::chrono::milliseconds ms);
    std::chrono::milliseconds claim_idle() const;

    DaemonOptions options_;
    Storage& storage_;
    Builder builder_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stopping_{false};
    std::atomic<unsigned> running_{0};
    std::atomic<std::uint64_t> jobs_done_{0};
    std::mutex mutex_;
    std::condition_variable cv_;
    // Jobs being built: stream id -> delivery count.
    std::map<std::string, long long> held_;
    std::int64_t started_ = 0;
    // Builds in flight and failures, for the build page.
    std::unique_ptr<ProgressBoard> board_;
};

} // namespace nixery::queue
