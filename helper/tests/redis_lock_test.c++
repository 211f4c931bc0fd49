// The Redis collection lock (queue/redis_lock.h) against a real
// redis-server: a collector that comes first keeps builds out, one that
// comes second waits for them, the leases of processes killed while
// holding run out, and under contention neither side ever misses the other.
#include "queue/redis_lock.h"

#include "redis_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace nixery::queue {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string flag(gc_collector_key);

class RedisLock : public ::testing::Test {
  protected:
    void SetUp() override
    {
        ASSERT_TRUE(redis.up()) << "redis-server did not start";
    }

    std::unique_ptr<CollectionLock>
    lock(std::chrono::milliseconds lease = 600ms)
    {
        return open_redis_lock(
            {.redis = redis.address(), .lease = lease, .poll = 20ms});
    }

    bool exists(const std::string& key)
    {
        return redis.client().checked({"EXISTS", key})->integer == 1;
    }

    std::size_t holder_keys()
    {
        return redis.client()
            .checked({"KEYS", std::string(gc_holder_prefix) + "*"})
            ->elements;
    }

    // A child process that takes the lock (exclusive or shared) with a
    // short lease and is then killed with SIGKILL, as a crash would.
    void die_holding(bool exclusive)
    {
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto l = lock(400ms);
            auto held = exclusive ? l->exclusive(5s) : l->shared();
            char c = 'x';
            (void)!::write(fds[1], &c, 1);
            for (;;) {
                ::pause();
            }
        }
        ::close(fds[1]);
        char c;
        ASSERT_EQ(::read(fds[0], &c, 1), 1) << "the child did not lock";
        ::close(fds[0]);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }

    test::RedisServer redis;
};

TEST_F(RedisLock, HolderFirstTheCollectorWaitsForIt)
{
    auto l = lock();
    auto held = l->shared();
    EXPECT_EQ(holder_keys(), 1u);
    auto t0 = Clock::now();
    EXPECT_THROW(l->exclusive(200ms), std::runtime_error);
    EXPECT_GE(Clock::now() - t0, 200ms);
    EXPECT_FALSE(exists(flag)) << "a collector that gave up leaves no flag";
    EXPECT_NO_THROW(l->shared()) << "builds are not held up by it";

    // A collector waiting when the build ends gets in then.
    std::atomic<bool> released{false}, collected{false};
    std::thread collector([&] {
        auto c = l->exclusive(10s);
        collected = released.load();
    });
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(exists(flag)) << "the waiting collector's flag is set";
    released = true;
    held.reset();
    collector.join();
    EXPECT_TRUE(collected) << "the collector got in after the release only";
    EXPECT_FALSE(exists(flag));
    EXPECT_EQ(holder_keys(), 0u);
}

TEST_F(RedisLock, CollectorFirstBuildsWaitForIt)
{
    auto l = lock();
    auto collecting = l->exclusive(1s);
    EXPECT_TRUE(exists(flag));
    std::atomic<bool> collector_done{false}, built{false}, in_order{false};
    std::thread build([&] {
        auto held = l->shared();
        in_order = collector_done.load();
        built = true;
    });
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(built);
    EXPECT_EQ(holder_keys(), 0u) << "a waiting build holds no key";
    collector_done = true;
    collecting.reset();
    build.join();
    EXPECT_TRUE(in_order) << "the build went on after the collection only";
    EXPECT_FALSE(exists(flag));
}

TEST_F(RedisLock, OneCollectorAtATime)
{
    auto l = lock();
    auto first = l->exclusive(1s);
    EXPECT_THROW(l->exclusive(100ms), std::runtime_error);
    EXPECT_TRUE(exists(flag)) << "the second did not remove the first's flag";
    first.reset();
    EXPECT_NO_THROW(l->exclusive(1s));
}

TEST_F(RedisLock, ADeadHoldersLeaseExpires)
{
    die_holding(false);
    EXPECT_EQ(holder_keys(), 1u) << "the dead build's key is still there";
    auto l = lock();
    EXPECT_THROW(l->exclusive(50ms), std::runtime_error);
    auto t0 = Clock::now();
    auto collecting = l->exclusive(10s);
    EXPECT_LT(Clock::now() - t0, 5s);
    EXPECT_EQ(holder_keys(), 0u);
}

TEST_F(RedisLock, ADeadCollectorsFlagExpires)
{
    die_holding(true);
    EXPECT_TRUE(exists(flag)) << "the dead collector's flag is still there";
    auto l = lock();
    auto t0 = Clock::now();
    auto held = l->shared();
    EXPECT_GE(Clock::now() - t0, 50ms) << "the build waited for the flag";
    EXPECT_LT(Clock::now() - t0, 5s);
    EXPECT_FALSE(exists(flag));
}

TEST_F(RedisLock, LeasesAreRenewedWhileHeld)
{
    // A 1 s lease: a shorter one can pass unrenewed when the machine is
    // loaded, above all under the sanitizers (make sanitize).
    auto l = lock(1s);
    auto held = l->shared();
    std::this_thread::sleep_for(3s); // over three leases
    EXPECT_EQ(holder_keys(), 1u);
    EXPECT_NO_THROW(held->check());
    EXPECT_THROW(l->exclusive(100ms), std::runtime_error);
    held.reset();
    auto collecting = l->exclusive(1s);
    std::this_thread::sleep_for(1s);
    EXPECT_TRUE(exists(flag));
    EXPECT_NO_THROW(collecting->check());
}

TEST_F(RedisLock, ALostLeaseIsReportedAndNotTakenBack)
{
    auto l = lock(300ms);
    auto held = l->shared();
    EXPECT_NO_THROW(held->check());
    Reply keys =
        redis.client().checked({"KEYS", std::string(gc_holder_prefix) + "*"});
    ASSERT_EQ(keys->elements, 1u);
    // As if it had expired while the process stalled.
    redis.client().checked({"DEL", reply_string(keys->element[0])});
    std::this_thread::sleep_for(400ms); // renewals every 100 ms
    EXPECT_THROW(held->check(), std::runtime_error);
    EXPECT_EQ(holder_keys(), 0u) << "a lost lease is not set again";

    auto collecting = l->exclusive(1s);
    // Another collector took the flag after it expired.
    redis.client().checked({"SET", flag, "another collector"});
    std::this_thread::sleep_for(400ms);
    EXPECT_THROW(collecting->check(), std::runtime_error);
    collecting.reset();
    EXPECT_EQ(reply_string(redis.client().checked({"GET", flag}).get()),
              "another collector")
        << "releasing a lost lease leaves the new holder's key";
}

TEST_F(RedisLock, NeitherSideMissesTheOther)
{
    auto l =
        open_redis_lock({.redis = redis.address(), .lease = 5s, .poll = 1ms});
    std::atomic<int> inside{0};
    std::atomic<bool> collecting{false}, stop{false};
    std::atomic<int> violations{0}, holds{0}, collections{0};
    auto pause = [](unsigned seed) {
        std::this_thread::sleep_for(std::chrono::microseconds(seed % 3000));
    };
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::minstd_rand rnd(t + 1);
            while (!stop) {
                auto held = l->shared();
                ++inside;
                violations += collecting.load();
                pause(rnd());
                violations += collecting.load();
                --inside;
                ++holds;
            }
        });
    }
    threads.emplace_back([&] {
        std::minstd_rand rnd(99);
        while (!stop) {
            auto c = l->exclusive(10s);
            collecting = true;
            violations += inside.load() != 0;
            pause(rnd());
            violations += inside.load() != 0;
            collecting = false;
            ++collections;
            c.reset();
            pause(rnd());
        }
    });
    std::this_thread::sleep_for(2s);
    stop = true;
    for (std::thread& t : threads) {
        t.join();
    }
    EXPECT_EQ(violations, 0);
    EXPECT_GE(collections, 3) << holds << " holds";
    EXPECT_GE(holds, 20) << collections << " collections";
    EXPECT_EQ(holder_keys(), 0u);
    EXPECT_FALSE(exists(flag));
}

} // namespace
} // namespace nixery::queue
