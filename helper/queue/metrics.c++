#include "queue/metrics.h"

#include "queue/redis.h"
#include "queue_schema.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

namespace nixery::queue {

namespace {

using namespace std::chrono_literals;

// A number as Prometheus reads it: integers without a fraction.
std::string number(double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

void header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help)
{
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels,
            const std::string& value)
{
    out.append(name);
    if (!labels.empty()) {
        out.append("{").append(labels).append("}");
    }
    out.append(" ").append(value).append("\n");
}

void single(std::string& out, std::string_view name, std::string_view type,
            std::string_view help, const std::string& value)
{
    header(out, name, type, help);
    sample(out, name, "", value);
}

// From a tenth of a second (a cached or refused job) to half an hour (a
// first build of a big image on a small machine).
std::vector<double> duration_bounds()
{
    return {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
}

class MeteredStorage final : public Storage {
  public:
    explicit MeteredStorage(Storage& inner) : inner_(inner) {}
    std::string describe() const override { return inner_.describe(); }
    const std::string& local_tmp() const override { return inner_.local_tmp(); }
    void put(std::string_view key, std::string_view bytes) override
    {
        inner_.put(key, bytes);
        metrics().bytes_written(bytes.size());
    }
    void put_file(std::string_view key, const std::string& path) override
    {
        // The file is gone after put_file(): its size first.
        std::error_code ec;
        std::uintmax_t n = std::filesystem::file_size(path, ec);
        inner_.put_file(key, path);
        if (!ec) {
            metrics().bytes_written(n);
        }
    }
    std::optional<std::string> get(std::string_view key,
                                   std::size_t max) override
    {
        return inner_.get(key, max);
    }
    std::optional<std::uint64_t> size(std::string_view key) override
    {
        return inner_.size(key);
    }
    void list(std::string_view prefix,
              const std::function<void(const StoredObject&)>& each) override
    {
        inner_.list(prefix, each);
    }
    void remove(std::string_view key) override { inner_.remove(key); }
    std::optional<std::string> filesystem_root() const override
    {
        return inner_.filesystem_root();
    }

  private:
    Storage& inner_;
};

} // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0)
{
}

void Histogram::observe(double value)
{
    std::size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                    bounds_.begin();
    std::lock_guard lock(mutex_);
    ++counts_[i];
    sum_ += value;
    ++count_;
}

void Histogram::render(std::string& out, std::string_view name,
                       std::string_view help) const
{
    std::vector<std::uint64_t> counts;
    double sum;
    std::uint64_t count;
    {
        std::lock_guard lock(mutex_);
        counts = counts_;
        sum = sum_;
        count = count_;
    }
    header(out, name, "histogram", help);
    std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
        sample(out, bucket, "le=\"" + le + "\"", std::to_string(cumulative));
    }
    sample(out, std::string(name) + "_sum", "", number(sum));
    sample(out, std::string(name) + "_count", "", std::to_string(count));
}

HelperMetrics::HelperMetrics()
    : build_seconds_(duration_bounds()), nix_seconds_(duration_bounds()),
      start_time_(std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count())
{
}

void HelperMetrics::job_done(std::string_view outcome)
{
    auto it = std::find(outcomes.begin(), outcomes.end(), outcome);
    if (it != outcomes.end()) {
        jobs_[it - outcomes.begin()].fetch_add(1, std::memory_order_relaxed);
    }
}

void HelperMetrics::build_started()
{
    running_.fetch_add(1, std::memory_order_relaxed);
}

void HelperMetrics::build_finished(double seconds)
{
    running_.fetch_sub(1, std::memory_order_relaxed);
    build_seconds_.observe(seconds);
}

void HelperMetrics::nix_finished(double seconds)
{
    nix_seconds_.observe(seconds);
}

void HelperMetrics::layers(std::uint64_t built, std::uint64_t cached)
{
    layers_built_.fetch_add(built, std::memory_order_relaxed);
    layers_cached_.fetch_add(cached, std::memory_order_relaxed);
}

void HelperMetrics::bytes_written(std::uint64_t n)
{
    bytes_.fetch_add(n, std::memory_order_relaxed);
}

std::string HelperMetrics::render(const std::optional<QueueState>& queue) const
{
    std::string out;
    out.reserve(8192);
    header(out, "nixery_helper_jobs_total", "counter",
           "Jobs this helper finished, by outcome (built: an image was "
           "built and published).");
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        sample(out, "nixery_helper_jobs_total",
               "outcome=\"" + std::string(outcomes[i]) + "\"",
               std::to_string(jobs_[i].load(std::memory_order_relaxed)));
    }
    single(out, "nixery_helper_builds_running", "gauge",
           "Builds this helper is running now.",
           std::to_string(running_.load(std::memory_order_relaxed)));
    build_seconds_.render(out, "nixery_helper_build_duration_seconds",
                          "Time the builder took (Nix and image assembly), "
                          "per job that ran it.");
    nix_seconds_.render(out, "nixery_helper_nix_duration_seconds",
                        "Time Nix took to resolve and realise an image's "
                        "packages.");
    header(out, "nixery_helper_layers_total", "counter",
           "Store-path layers of the images built: built now, or taken "
           "from the layer cache.");
    sample(out, "nixery_helper_layers_total", "source=\"built\"",
           std::to_string(layers_built_.load(std::memory_order_relaxed)));
    sample(out, "nixery_helper_layers_total", "source=\"cache\"",
           std::to_string(layers_cached_.load(std::memory_order_relaxed)));
    single(out, "nixery_helper_written_bytes_total", "counter",
           "Bytes this helper wrote to storage (blobs, manifests, index "
           "entries, layer cache entries).",
           std::to_string(bytes_.load(std::memory_order_relaxed)));
    single(out, "nixery_helper_start_time_seconds", "gauge",
           "When this helper started, in seconds since the Unix epoch.",
           std::to_string(start_time_));
    single(out, "nixery_helper_redis_up", "gauge",
           "1 when this scrape could read the queue's state from Redis.",
           queue ? "1" : "0");
    if (queue) {
        single(out, "nixery_queue_jobs", "gauge",
               "Jobs in the build queue, queued or running (all helpers).",
               std::to_string(queue->jobs));
        single(out, "nixery_queue_running_jobs", "gauge",
               "Jobs of the build queue that a helper is running (all "
               "helpers).",
               std::to_string(queue->running));
        single(out, "nixery_queue_oldest_job_age_seconds", "gauge",
               "Age of the oldest job in the build queue (0: none).",
               number(queue->oldest_age));
        single(out, "nixery_helpers_alive", "gauge",
               "Helpers whose heartbeat key is alive in Redis.",
               std::to_string(queue->helpers_alive));
    }
    return out;
}

HelperMetrics& metrics()
{
    static HelperMetrics m;
    return m;
}

QueueState read_queue_state(const std::string& address)
{
    RedisClient redis(address, 1s);
    QueueState s;
    std::string stream(jobs_stream);
    s.jobs = redis.checked({"XLEN", stream})->integer;
    // The group is made by the first helper worker; before that, nothing
    // runs.
    Reply pending =
        redis.command({"XPENDING", stream, std::string(helpers_group)});
    if (pending->type == REDIS_REPLY_ARRAY && pending->elements >= 1 &&
        pending->element[0]->type == REDIS_REPLY_INTEGER) {
        s.running = pending->element[0]->integer;
    }
    Reply first = redis.checked({"XRANGE", stream, "-", "+", "COUNT", "1"});
    if (first->type == REDIS_REPLY_ARRAY && first->elements == 1 &&
        first->element[0]->type == REDIS_REPLY_ARRAY &&
        first->element[0]->elements >= 1) {
        // Entry ids are "<milliseconds>-<sequence>" from XADD '*'.
        std::string id = reply_string(first->element[0]->element[0]);
        Reply time = redis.checked({"TIME"});
        if (time->type == REDIS_REPLY_ARRAY && time->elements == 2) {
            double now = std::stod(reply_string(time->element[0])) +
                         std::stod(reply_string(time->element[1])) / 1e6;
            double added = std::stod(id.substr(0, id.find('-'))) / 1e3;
            s.oldest_age = std::max(0.0, now - added);
        }
    }
    std::string cursor = "0";
    do {
        Reply scan =
            redis.checked({"SCAN", cursor, "MATCH",
                           std::string(heartbeat_pattern), "COUNT", "1000"});
        if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) {
            break;
        }
        cursor = reply_string(scan->element[0]);
        s.helpers_alive += static_cast<long long>(scan->element[1]->elements);
    } while (cursor != "0");
    return s;
}

std::unique_ptr<Storage> metered_storage(Storage& inner)
{
    return std::make_unique<MeteredStorage>(inner);
}

} // namespace nixery::queue
