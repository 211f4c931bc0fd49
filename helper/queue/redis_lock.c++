#include "queue/redis_lock.h"

#include "base/log.h"
#include "queue/redis.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <unistd.h>
#include <vector>

namespace nixery::queue {

namespace {

using Clock = std::chrono::steady_clock;

// Extends the key's lease only while it still holds our id: a lease that
// expired (and maybe went to another process) is not taken back.
constexpr std::string_view renew_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

// Deletes the key only while it holds our id.
constexpr std::string_view release_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

// Unique across hosts and processes: host, pid, a counter and 64 random
// bits; readable, so that operators can tell who holds what.
std::string unique_id()
{
    static std::atomic<std::uint64_t> counter{0};
    static const std::uint64_t salt = [] {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }();
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
        std::snprintf(host, sizeof host, "host");
    }
    char tail[64];
    std::snprintf(tail, sizeof tail, "-%ld-%llu-%016llx",
                  static_cast<long>(::getpid()),
                  static_cast<unsigned long long>(counter.fetch_add(1)),
                  static_cast<unsigned long long>(salt));
    return host + std::string(tail);
}

std::string millis(std::chrono::milliseconds ms)
{
    return std::to_string(ms.count());
}

// A key this process keeps alive: renewed every lease/3 from its own
// thread and connection, deleted when the hold is destroyed.
class Lease final : public LockHold {
  public:
    Lease(const RedisLockOptions& o, std::unique_ptr<RedisClient> redis,
          std::string key, std::string id, Clock::time_point set_at)
        : o_(o), redis_(std::move(redis)), key_(std::move(key)),
          id_(std::move(id)), renewed_(set_at.time_since_epoch().count())
    {
        thread_ = std::jthread([this](std::stop_token stop) { renew(stop); });
    }

    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    ~Lease() override
    {
        thread_.request_stop();
        thread_.join();
        try {
            if (!redis_) {
                redis_ =
                    std::make_unique<RedisClient>(o_.redis, o_.redis_timeout);
            }
            redis_->checked(
                {"EVAL", std::string(release_script), "1", key_, id_});
        } catch (const std::exception& e) {
            // Not fatal: the lease runs out on its own.
            log::warn("gc lock: cannot release a lease; it expires",
                      {{"key", key_}, {"error", e.what()}});
        }
    }

    // Lost when Redis said the key is gone, or when no renewal succeeded
    // for 2/3 of a lease: the last third is the margin left to finish the
    // step the lock guards before Redis lets the key go.
    void check() const override
    {
        auto renewed = Clock::time_point(Clock::duration(renewed_.load()));
        if (lost_.load() || Clock::now() - renewed >= o_.lease - o_.lease / 3) {
            throw std::runtime_error("gc lock: the lease on " + key_ +
                                     " was lost (Redis " + o_.redis +
                                     " unreachable, or this process stalled)");
        }
    }

  private:
    void renew(std::stop_token stop)
    {
        std::mutex m;
        std::condition_variable_any cv;
        for (;;) {
            {
                std::unique_lock lock(m);
                if (cv.wait_for(lock, stop, o_.lease / 3,
                                [] { return false; }) ||
                    stop.stop_requested()) {
                    return;
                }
            }
            auto sent = Clock::now();
            try {
                if (!redis_) {
                    redis_ = std::make_unique<RedisClient>(o_.redis,
                                                           o_.redis_timeout);
                }
                Reply r = redis_->checked({"EVAL", std::string(renew_script),
                                           "1", key_, id_, millis(o_.lease)});
                if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
                    renewed_.store(sent.time_since_epoch().count());
                } else if (!lost_.exchange(true)) {
                    log::error("gc lock: lease expired before it was renewed",
                               {{"key", key_}});
                }
            } catch (const std::exception& e) {
                redis_.reset(); // reconnect on the next round
                log::warn("gc lock: cannot renew a lease",
                          {{"key", key_}, {"error", e.what()}});
            }
        }
    }

    const RedisLockOptions o_; // a copy: a hold may outlive its lock
    std::unique_ptr<RedisClient> redis_;
    std::string key_;
    std::string id_;
    std::atomic<Clock::rep> renewed_; // when the last renewal was sent
    std::atomic<bool> lost_{false};
    std::jthread thread_; // last: stopped before the members it uses go
};

class RedisLock final : public CollectionLock {
  public:
    explicit RedisLock(RedisLockOptions o) : o_(std::move(o)) {}

    std::string describe() const override { return "redis " + o_.redis; }

    std::unique_ptr<LockHold> shared() override
    {
        auto redis = connect();
        std::string id = unique_id();
        std::string key = std::string(gc_holder_prefix) + id;
        bool said = false;
        for (;;) {
            while (collecting(*redis)) {
                if (!said) {
                    log::info("gc lock: waiting for the collector",
                              {{"lock", describe()}});
                    said = true;
                }
                std::this_thread::sleep_for(o_.poll);
            }
            auto sent = Clock::now();
            redis->checked({"SET", key, id, "PX", millis(o_.lease)});
            if (!collecting(*redis)) {
                return std::make_unique<Lease>(o_, std::move(redis), key, id,
                                               sent);
            }
            // The collector came in between: it may not have seen our key,
            // so it must not find it later either.
            redis->checked({"DEL", key});
        }
    }

    std::unique_ptr<LockHold>
    exclusive(std::chrono::milliseconds timeout) override
    {
        auto deadline = Clock::now() + timeout;
        auto redis = connect();
        auto scan = connect();
        std::string id = unique_id();
        std::string flag(gc_collector_key);
        Clock::time_point sent;
        for (;;) {
            sent = Clock::now();
            Reply r =
                redis->checked({"SET", flag, id, "NX", "PX", millis(o_.lease)});
            if (!reply_is_nil(r.get())) {
                break;
            }
            if (Clock::now() >= deadline) {
                throw std::runtime_error(
                    "storage is busy: another collector holds " + flag + " (" +
                    reply_string(scan->command({"GET", flag}).get()) + ")");
            }
            std::this_thread::sleep_for(o_.poll);
        }
        auto hold =
            std::make_unique<Lease>(o_, std::move(redis), flag, id, sent);
        while (holders(*scan) > 0) {
            hold->check();
            if (Clock::now() >= deadline) {
                // `hold` goes: the flag is deleted, builds carry on.
                throw std::runtime_error(
                    "storage is busy: builds held the Redis gc lock (" +
                    std::string(gc_holder_prefix) +
                    "*) for longer than the lock timeout");
            }
            std::this_thread::sleep_for(o_.poll);
        }
        return hold;
    }

  private:
    std::unique_ptr<RedisClient> connect() const
    {
        return std::make_unique<RedisClient>(o_.redis, o_.redis_timeout);
    }

    static bool collecting(RedisClient& redis)
    {
        Reply r = redis.checked({"EXISTS", std::string(gc_collector_key)});
        return r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    }

    // Holder keys alive now. SCAN may return a key that has just expired,
    // so what it finds is counted again with EXISTS, which never does.
    static long long holders(RedisClient& redis)
    {
        std::vector<std::string> found{"EXISTS"};
        std::string cursor = "0";
        do {
            Reply r = redis.checked({"SCAN", cursor, "MATCH",
                                     std::string(gc_holder_prefix) + "*",
                                     "COUNT", "1000"});
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[1]->type != REDIS_REPLY_ARRAY) {
                throw RedisError("redis SCAN: unexpected reply");
            }
            cursor = reply_string(r->element[0]);
            for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
                found.push_back(reply_string(r->element[1]->element[i]));
            }
        } while (cursor != "0");
        if (found.size() == 1) {
            return 0;
        }
        return redis.checked(found)->integer;
    }

    RedisLockOptions o_;
};

} // namespace

std::unique_ptr<CollectionLock> open_redis_lock(RedisLockOptions options)
{
    if (options.redis.empty()) {
        throw std::runtime_error("gc lock: no Redis address given");
    }
    if (options.lease < std::chrono::milliseconds(30)) {
        throw std::runtime_error("gc lock: the lease is too short");
    }
    return std::make_unique<RedisLock>(std::move(options));
}

} // namespace nixery::queue
