// The helper's Prometheus metrics: what this helper did (jobs by outcome,
// build and Nix durations as histograms, layers built or taken from the
// layer cache, bytes written to storage, builds running) and, read from
// Redis at each scrape, what the whole queue looks like (jobs queued or
// running, the oldest one's age, helpers alive).
//
// Each helper serves its own metrics over HTTP (`nixery-helper
// --metrics-listen ADDR:PORT`, metrics_server.h) and Prometheus scrapes
// every helper: counting costs a relaxed atomic add or a short mutex, and
// nothing is written to Redis per event. docs/operations.md ("Metrics")
// lists the names and says why.
//
// The counters are process-wide (metrics()), like those of any Prometheus
// client library, so that the daemon and the builders it runs count into
// the same place without passing a handle through every layer.
#pragma once

#include "storage/storage.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery::queue {

// A Prometheus histogram with fixed bucket bounds (seconds).
class Histogram {
  public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);
    // Appends the family (HELP, TYPE, buckets, _sum, _count) to `out`.
    void render(std::string& out, std::string_view name,
                std::string_view help) const;

  private:
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::vector<std::uint64_t> counts_; // per bucket, not cumulative; +Inf
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

// The queue as Redis sees it, read at scrape time (read_queue_state).
struct QueueState {
    long long jobs = 0;          // XLEN: queued or running
    long long running = 0;       // delivered to a helper, not yet done
    double oldest_age = 0;       // seconds since the oldest was enqueued
    long long helpers_alive = 0; // heartbeat keys
};

class HelperMetrics {
  public:
    // The outcomes a job can have (daemon.c++'s Verdict, plus "malformed"
    // for a job that could not be parsed), in the order they are rendered.
    static constexpr std::array<std::string_view, 9> outcomes = {
        "built",       "cached",    "unknown",  "unknown-cached", "failed",
        "unavailable", "abandoned", "rejected", "malformed"};

    HelperMetrics();

    void job_done(std::string_view outcome);
    void build_started();
    void build_finished(double seconds);
    void nix_finished(double seconds);
    void layers(std::uint64_t built, std::uint64_t cached);
    void bytes_written(std::uint64_t n);

    // The text exposition format 0.0.4; `queue` is what Redis said, or
    // nullopt when Redis could not be read (nixery_helper_redis_up 0).
    std::string render(const std::optional<QueueState>& queue) const;

  private:
    std::array<std::atomic<std::uint64_t>, outcomes.size()> jobs_{};
    std::atomic<std::int64_t> running_{0};
    std::atomic<std::uint64_t> layers_built_{0};
    std::atomic<std::uint64_t> layers_cached_{0};
    std::atomic<std::uint64_t> bytes_{0};
    Histogram build_seconds_;
    Histogram nix_seconds_;
    std::int64_t start_time_;
};

// This process's metrics.
HelperMetrics& metrics();

// The queue's state from Redis (`redis`: "host:port" or "unix:/path");
// throws on a Redis failure. The oldest job's age is measured with Redis's
// clock (TIME), which also stamped the job (XADD), so hosts' clocks do not
// matter.
QueueState read_queue_state(const std::string& redis);

// Storage that counts the bytes written through it into metrics() and
// passes everything on to `inner` (which outlives it).
std::unique_ptr<Storage> metered_storage(Storage& inner);

} // namespace nixery::queue
