// The helper daemon against a real redis-server (started per test on a
// unix socket in a temp dir) with a fake builder: single flight, the
// enqueue/complete race, takeover of a dead helper's job, poison jobs, the
// negative cache, index expiry, graceful stop and the heartbeat.
#include "queue/daemon.h"
#include "queue/redis.h"
#include "queue_schema.h"

#include "atomic_file.h"
#include "base/log.h"
#include "storage_layout.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace nixery::queue {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class QueueDaemon : public ::testing::Test {
  protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/nixery-queue-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        storage_ = dir_ + "/storage";
        fs::create_directories(storage_);
        store_ = open_filesystem_storage(storage_);
        socket_ = dir_ + "/redis.sock";
        start_redis();
        // Keep test output quiet: the daemon logs to a file.
        log_fd_ = open((dir_ + "/helper.log").c_str(),
                       O_WRONLY | O_CREAT | O_APPEND, 0644);
        log::set_fd(log_fd_);
    }

    void TearDown() override
    {
        log::set_fd(2);
        if (log_fd_ >= 0) {
            close(log_fd_);
        }
        stop_redis();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    void start_redis()
    {
        ::unlink(socket_.c_str());
        pid_ = fork();
        ASSERT_GE(pid_, 0);
        if (pid_ == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            execlp("redis-server", "redis-server", "--port", "0",
                   "--unixsocket", socket_.c_str(), "--save", "",
                   "--appendonly", "no", "--dir", dir_.c_str(), nullptr);
            _exit(127);
        }
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            try {
                redis_ = std::make_unique<RedisClient>(address(), 1s);
                if (reply_string(redis_->command({"PING"}).get()) == "PONG") {
                    break;
                }
            } catch (const RedisError&) {
                redis_.reset();
            }
            std::this_thread::sleep_for(20ms);
        }
        ASSERT_TRUE(redis_) << "redis-server did not start";
    }

    void stop_redis()
    {
        redis_.reset();
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        pid_ = -1;
    }

    std::string address() const { return "unix:" + socket_; }

    DaemonOptions options(unsigned concurrency = 1)
    {
        DaemonOptions o;
        o.redis = address();
        o.concurrency = concurrency;
        o.heartbeat = 1s;
        o.unknown_ttl = 120s;
        o.moving_ttl = 600s;
        o.helper_id = "test-helper";
        o.pinned = [](const std::string& tag) { return tag.size() == 40; };
        return o;
    }

    static ImageRequest request(std::string_view name,
                                std::string_view tag = "latest")
    {
        ParseResult p = parse_image_request(name, tag);
        EXPECT_EQ(p.error, NameError::none);
        return p.request;
    }

    // What the module does on an index miss; returns {kind, value}.
    // `max_length`: the module's nixery_queue_max_length (0: no limit).
    std::pair<std::string, std::string> enqueue(const ImageRequest& r,
                                                long long max_length = -1)
    {
        Job job = make_job(r, 1);
        std::vector<std::string> argv{"EVAL",
                                      std::string(enqueue_script),
                                      "3",
                                      result_key(job.key),
                                      inflight_key(job.key),
                                      std::string(jobs_stream),
                                      format_job(job),
                                      std::to_string(inflight_ttl_seconds)};
        if (max_length >= 0) {
            argv.push_back("");
            argv.push_back(std::to_string(max_length));
        }
        Reply reply = redis_->checked(argv);
        EXPECT_EQ(reply->type, REDIS_REPLY_ARRAY);
        EXPECT_EQ(reply->elements, 2u);
        return {reply_string(reply->element[0]),
                reply_string(reply->element[1])};
    }

    std::optional<Result> wait_result(const std::string& key,
                                      std::chrono::milliseconds timeout = 10s)
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            Reply r = redis_->checked({"GET", result_key(key)});
            if (!reply_is_nil(r.get())) {
                return parse_result(reply_string(r.get()));
            }
            std::this_thread::sleep_for(20ms);
        }
        return std::nullopt;
    }

    long long integer(const std::vector<std::string>& argv)
    {
        return redis_->checked(argv)->integer;
    }

    std::string dir_, storage_, socket_;
    std::unique_ptr<Storage> store_;
    pid_t pid_ = -1;
    int log_fd_ = -1;
    std::unique_ptr<RedisClient> redis_;
};

// A builder that counts calls and publishes an index entry, as the real
// one does last.
struct CountingBuilder {
    std::atomic<int> calls{0};
    std::atomic<int> active{0};
    std::atomic<int> max_active{0};
    std::atomic<std::int64_t> last_expires{-1};
    Storage* storage = nullptr;
    std::chrono::milliseconds delay{0};

    Builder get()
    {
        return [this](const ImageRequest& r, const BuildContext& ctx) {
            ++calls;
            last_expires = ctx.expires;
            int now_active = ++active;
            int seen = max_active.load();
            while (now_active > seen &&
                   !max_active.compare_exchange_weak(seen, now_active)) {
            }
            std::this_thread::sleep_for(delay);
            --active;
            BuildOutcome out;
            for (const std::string& p : r.packages) {
                if (p.rfind("missing", 0) == 0) {
                    out.unknown.push_back(p);
                }
                if (p == "throws") {
                    throw std::runtime_error("nix-build exploded");
                }
            }
            if (!out.unknown.empty()) {
                out.status = BuildOutcome::Status::not_found;
                return out;
            }
            IndexEntry e;
            e.docker_hex = std::string(64, 'd');
            e.docker_size = 10;
            e.oci_hex = std::string(64, 'e');
            e.oci_size = 11;
            e.expires = ctx.expires;
            storage->put(index_path(canonical_key(r)), format_index_entry(e));
            return out;
        };
    }
};

TEST_F(QueueDaemon, SingleFlightOneJobOneBuild)
{
    ImageRequest r = request("hello");
    std::string key = canonical_key(r);
    EXPECT_EQ(enqueue(r).first, "queued");
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(enqueue(r).first, "waiting");
    }
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 1);
    EXPECT_EQ(integer({"TTL", inflight_key(key)}) > 0, true);

    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(2), *store_, b.get());
    d.start();
    std::optional<Result> res = wait_result(key);
    ASSERT_TRUE(res);
    EXPECT_TRUE(res->ok);
    EXPECT_EQ(b.calls, 1);
    EXPECT_EQ(integer({"EXISTS", inflight_key(key)}), 0);
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 0);
    Reply pending = redis_->checked(
        {"XPENDING", std::string(jobs_stream), std::string(helpers_group)});
    EXPECT_EQ(pending->element[0]->integer, 0);
    long long ttl = integer({"TTL", result_key(key)});
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, result_ttl_seconds);

    // The race: a module that missed the index just before the build
    // finished gets the stored result instead of enqueueing again.
    auto [kind, text] = enqueue(r);
    EXPECT_EQ(kind, "result");
    ASSERT_TRUE(parse_result(text));
    EXPECT_TRUE(parse_result(text)->ok);
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 0);
}

// Back-pressure: past the maximum length a new image is refused with the
// queue's length and nothing is added, an image already queued still
// waits, and a finished build makes room again.
TEST_F(QueueDaemon, FullQueueRefusesNewJobsOnly)
{
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(enqueue(request("img" + std::to_string(i)), 3).first,
                  "queued");
    }
    ImageRequest extra = request("extra");
    auto [kind, length] = enqueue(extra, 3);
    EXPECT_EQ(kind, "full");
    EXPECT_EQ(length, "3");
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 3);
    EXPECT_EQ(integer({"EXISTS", inflight_key(canonical_key(extra))}), 0);
    EXPECT_EQ(enqueue(request("img1"), 3).first, "waiting");
    // A lower limit (another host's configuration) refuses, too.
    EXPECT_EQ(enqueue(extra, 1).first, "full");
    // 0 and no limit at all: the job goes in.
    EXPECT_EQ(enqueue(request("nolimit"), 0).first, "queued");
    EXPECT_EQ(enqueue(request("absent")).first, "queued");
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 5);

    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    ASSERT_TRUE(wait_result(canonical_key(request("absent"))));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (integer({"XLEN", std::string(jobs_stream)}) > 0 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(enqueue(extra, 3).first, "queued");
}

TEST_F(QueueDaemon, DuplicateJobForStoredImageDoesNotBuild)
{
    ImageRequest r = request("cached");
    IndexEntry e;
    e.docker_hex = std::string(64, 'a');
    e.oci_hex = std::string(64, 'b');
    publish_file(storage_, index_path(canonical_key(r)), format_index_entry(e));
    enqueue(r);
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    std::optional<Result> res = wait_result(canonical_key(r));
    ASSERT_TRUE(res);
    EXPECT_TRUE(res->ok);
    EXPECT_EQ(b.calls, 0);
}

TEST_F(QueueDaemon, ExpiredIndexIsRebuilt)
{
    ImageRequest r = request("stale");
    IndexEntry e;
    e.docker_hex = std::string(64, 'a');
    e.oci_hex = std::string(64, 'b');
    e.expires = 1000; // long past
    publish_file(storage_, index_path(canonical_key(r)), format_index_entry(e));
    enqueue(r);
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    ASSERT_TRUE(wait_result(canonical_key(r)));
    EXPECT_EQ(b.calls, 1);
}

TEST_F(QueueDaemon, MovingSourcesExpirePinnedNever)
{
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    ImageRequest moving = request("hello", "nixos-unstable");
    enqueue(moving);
    ASSERT_TRUE(wait_result(canonical_key(moving)));
    EXPECT_GE(b.last_expires, now + 600 - 5);
    EXPECT_LE(b.last_expires, now + 600 + 5);

    ImageRequest pinned =
        request("hello", "0123456789abcdef0123456789abcdef01234567");
    enqueue(pinned);
    ASSERT_TRUE(wait_result(canonical_key(pinned)));
    EXPECT_EQ(b.last_expires, 0);
}

TEST_F(QueueDaemon, UnknownPackagesAreRememberedForTheirTtl)
{
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    ImageRequest first = request("missingx/hello");
    enqueue(first);
    std::optional<Result> res = wait_result(canonical_key(first));
    ASSERT_TRUE(res);
    EXPECT_FALSE(res->ok);
    EXPECT_EQ(res->code, ErrorCode::manifest_unknown);
    EXPECT_EQ(res->unknown, std::vector<std::string>{"missingx"});
    EXPECT_EQ(b.calls, 1);
    long long ttl =
        integer({"TTL", unknown_key(Arch::amd64, "latest", "missingx")});
    EXPECT_GT(ttl, 60);
    EXPECT_LE(ttl, 120);
    // The same image's result is kept as long, so the module answers a
    // flood of it straight from the enqueue script.
    EXPECT_GT(integer({"TTL", result_key(canonical_key(first))}), 60);

    // Another image with the same bad name: no build.
    ImageRequest second = request("missingx/other");
    enqueue(second);
    res = wait_result(canonical_key(second));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->unknown, std::vector<std::string>{"missingx"});
    EXPECT_NE(res->message.find("missingx"), std::string::npos);
    EXPECT_EQ(b.calls, 1);

    // Another tag is another package set: it is asked again.
    ImageRequest other_tag = request("missingx/hello", "nixos-23.11");
    enqueue(other_tag);
    ASSERT_TRUE(wait_result(canonical_key(other_tag)));
    EXPECT_EQ(b.calls, 2);
}

TEST_F(QueueDaemon, BuilderExceptionBecomesFailureResult)
{
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    ImageRequest r = request("throws");
    enqueue(r);
    std::optional<Result> res = wait_result(canonical_key(r));
    ASSERT_TRUE(res);
    EXPECT_FALSE(res->ok);
    EXPECT_EQ(res->code, ErrorCode::unknown);
    EXPECT_EQ(res->detail, "nix-build exploded");
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 0);
}

// Deliver a job to a consumer that then "dies" (never acknowledges).
std::string deliver_to_ghost(RedisClient& redis)
{
    redis.command({"XGROUP", "CREATE", std::string(jobs_stream),
                   std::string(helpers_group), "0", "MKSTREAM"});
    Reply read = redis.checked({"XREADGROUP", "GROUP",
                                std::string(helpers_group), "ghost", "COUNT",
                                "1", "STREAMS", std::string(jobs_stream), ">"});
    return reply_string(read->element[0]->element[1]->element[0]->element[0]);
}

TEST_F(QueueDaemon, DeadHelpersJobIsTakenOver)
{
    ImageRequest r = request("orphan");
    enqueue(r);
    std::string id = deliver_to_ghost(*redis_);
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    // Not before the ghost's claim has been idle for three heartbeats.
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(b.calls, 0);
    std::optional<Result> res = wait_result(canonical_key(r), 10s);
    ASSERT_TRUE(res);
    EXPECT_TRUE(res->ok);
    EXPECT_EQ(b.calls, 1);
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 0);
}

TEST_F(QueueDaemon, PoisonJobEndsWithErrorInsteadOfLooping)
{
    ImageRequest r = request("poison");
    enqueue(r);
    std::string id = deliver_to_ghost(*redis_);
    // As if three helpers had died building it, and the last one too.
    redis_->checked({"XCLAIM", std::string(jobs_stream),
                     std::string(helpers_group), "ghost", "0", id, "IDLE",
                     "600000", "RETRYCOUNT", "3", "JUSTID"});
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    std::optional<Result> res = wait_result(canonical_key(r));
    ASSERT_TRUE(res);
    EXPECT_FALSE(res->ok);
    EXPECT_EQ(res->code, ErrorCode::unknown);
    EXPECT_NE(res->detail.find("4 times"), std::string::npos) << res->detail;
    EXPECT_EQ(b.calls, 0);
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 0);
}

TEST_F(QueueDaemon, MalformedJobIsDropped)
{
    redis_->checked(
        {"XADD", std::string(jobs_stream), "*", "job", "{\"v\":9}"});
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (integer({"XLEN", std::string(jobs_stream)}) != 0 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 0);
    EXPECT_EQ(b.calls, 0);
}

TEST_F(QueueDaemon, ConcurrencyBuildsDifferentImagesInParallel)
{
    CountingBuilder b{.storage = store_.get(), .delay = 800ms};
    Daemon d(options(3), *store_, b.get());
    d.start();
    std::vector<ImageRequest> rs{request("a1"), request("a2"), request("a3")};
    for (const ImageRequest& r : rs) {
        enqueue(r);
    }
    for (const ImageRequest& r : rs) {
        ASSERT_TRUE(wait_result(canonical_key(r)));
    }
    EXPECT_EQ(b.calls, 3);
    // Three slots, three jobs queued at once, each build 0.8 s long: the
    // builds overlapped. A single slot would never exceed 1.
    EXPECT_GE(b.max_active, 2);
}

TEST_F(QueueDaemon, GracefulStopFinishesTheRunningBuild)
{
    CountingBuilder b{.storage = store_.get(), .delay = 700ms};
    Daemon d(options(), *store_, b.get());
    d.start();
    ImageRequest r = request("finishme");
    enqueue(r);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (b.calls == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(b.calls, 1);
    d.request_stop();
    d.join();
    // Stopped, yet the result was announced and the job acknowledged.
    std::optional<Result> res = wait_result(canonical_key(r), 100ms);
    ASSERT_TRUE(res);
    EXPECT_TRUE(res->ok);
    EXPECT_EQ(integer({"XLEN", std::string(jobs_stream)}), 0);
    EXPECT_EQ(integer({"EXISTS", heartbeat_key("test-helper")}), 0);
}

TEST_F(QueueDaemon, HeartbeatShowsLiveHelpers)
{
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(2), *store_, b.get());
    d.start();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (integer({"EXISTS", heartbeat_key("test-helper")}) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    Reply v = redis_->checked({"GET", heartbeat_key("test-helper")});
    std::string text = reply_string(v.get());
    EXPECT_NE(text.find("\"helper\":\"test-helper\""), std::string::npos);
    EXPECT_NE(text.find("\"concurrency\":2"), std::string::npos);
    long long ttl = integer({"TTL", heartbeat_key("test-helper")});
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 3);
}

TEST_F(QueueDaemon, SurvivesRedisRestart)
{
    CountingBuilder b{.storage = store_.get()};
    Daemon d(options(), *store_, b.get());
    d.start();
    ImageRequest before = request("before");
    enqueue(before);
    ASSERT_TRUE(wait_result(canonical_key(before)));
    // Restart Redis (empty, as without persistence).
    stop_redis();
    std::this_thread::sleep_for(300ms);
    start_redis();
    ImageRequest after = request("after");
    enqueue(after);
    std::optional<Result> res = wait_result(canonical_key(after), 15s);
    ASSERT_TRUE(res);
    EXPECT_TRUE(res->ok);
    EXPECT_EQ(b.calls, 2);
}

} // namespace
} // namespace nixery::queue
