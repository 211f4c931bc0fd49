#include "queue/tags_publisher.h"

#include "base/log.h"
#include "queue/redis.h"

#include "tag_list.h"

#include <algorithm>
#include <exception>

namespace nixery::queue {

namespace {

using namespace std::chrono_literals;

// After a failed listing or write, the next try comes this soon (or after
// the period, when that is shorter).
constexpr std::chrono::seconds retry_after{5};

std::int64_t unix_now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

TagsPublisher::TagsPublisher(TagsPublisherOptions options)
    : options_(std::move(options))
{
    if (options_.period < 1s) {
        options_.period = 1s;
    }
}

TagsPublisher::~TagsPublisher()
{
    stop();
}

void TagsPublisher::start()
{
    thread_ = std::thread([this] { run(); });
}

void TagsPublisher::stop() noexcept
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

std::uint64_t TagsPublisher::published() const
{
    std::lock_guard lock(mutex_);
    return published_;
}

bool TagsPublisher::publish_once()
{
    std::vector<std::string> names;
    try {
        names = options_.list();
    } catch (const std::exception& e) {
        log::warn("tags: cannot list the package repository; the last "
                  "list published stays until it expires",
                  {{"error", e.what()}});
        return false;
    }
    try {
        std::string record =
            format_tags_record(names, options_.helper_id, unix_now_ms());
        RedisClient redis(options_.redis, 5s);
        redis.checked({"SET", std::string(tags_key), record, "EX",
                       std::to_string(options_.period.count() * 3)});
        std::size_t listed = static_cast<std::size_t>(
            std::count_if(names.begin(), names.end(), [](const std::string& n) {
                return listable_ref(n);
            }));
        log::debug("tags published",
                   {{"refs", names.size()}, {"listed", listed}});
    } catch (const std::exception& e) {
        log::warn("tags: cannot publish the list to redis",
                  {{"redis", options_.redis}, {"error", e.what()}});
        return false;
    }
    std::lock_guard lock(mutex_);
    ++published_;
    return true;
}

void TagsPublisher::run() noexcept
{
    while (true) {
        bool ok = false;
        try {
            ok = publish_once();
        } catch (...) {
            // publish_once() logs what it can; only memory running out
            // gets here.
        }
        std::chrono::seconds wait =
            ok ? options_.period : std::min(options_.period, retry_after);
        std::unique_lock lock(mutex_);
        if (cv_.wait_for(lock, wait, [this] { return stopping_; })) {
            return;
        }
    }
}

} // namespace nixery::queue
