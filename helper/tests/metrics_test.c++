// The helper's metrics (queue/metrics.h): histogram buckets, the text
// format, the queue's state read from a real redis-server, the metered
// storage, and the endpoint (queue/metrics_server.h) over a real socket.
#include "queue/metrics.h"
#include "queue/metrics_server.h"
#include "queue_schema.h"

#include "memory_storage.h"
#include "redis_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace nixery::queue {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Histogram, BucketsAreCumulativeWithSumAndCount)
{
    Histogram h({1, 5});
    h.observe(0.5);
    h.observe(1); // on a bound: in that bucket (le)
    h.observe(3);
    h.observe(100);
    std::string out;
    h.render(out, "x_seconds", "Help.");
    EXPECT_EQ(out, "# HELP x_seconds Help.\n"
                   "# TYPE x_seconds histogram\n"
                   "x_seconds_bucket{le=\"1\"} 2\n"
                   "x_seconds_bucket{le=\"5\"} 3\n"
                   "x_seconds_bucket{le=\"+Inf\"} 4\n"
                   "x_seconds_sum 104.5\n"
                   "x_seconds_count 4\n");
}

TEST(HelperMetrics, CountsJobsByOutcomeAndLayers)
{
    HelperMetrics m;
    m.job_done("built");
    m.job_done("built");
    m.job_done("unknown-cached");
    m.job_done("no such outcome"); // ignored, not a new series
    m.layers(3, 7);
    m.bytes_written(1000);
    m.build_started();
    std::string out = m.render(std::nullopt);
    EXPECT_THAT(out, HasSubstr("nixery_helper_jobs_total{outcome=\"built\"} "
                               "2\n"));
    EXPECT_THAT(out, HasSubstr("{outcome=\"unknown-cached\"} 1\n"));
    EXPECT_THAT(out, HasSubstr("{outcome=\"failed\"} 0\n"));
    EXPECT_THAT(out, Not(HasSubstr("no such outcome")));
    EXPECT_THAT(out, HasSubstr("nixery_helper_layers_total{source=\"built\"} "
                               "3\n"));
    EXPECT_THAT(out, HasSubstr("nixery_helper_layers_total{source=\"cache\"} "
                               "7\n"));
    EXPECT_THAT(out, HasSubstr("nixery_helper_written_bytes_total 1000\n"));
    EXPECT_THAT(out, HasSubstr("nixery_helper_builds_running 1\n"));
    m.build_finished(2);
    out = m.render(std::nullopt);
    EXPECT_THAT(out, HasSubstr("nixery_helper_builds_running 0\n"));
    EXPECT_THAT(out,
                HasSubstr("nixery_helper_build_duration_seconds_count 1\n"));
    // Without Redis: said so, and no queue gauges made up.
    EXPECT_THAT(out, HasSubstr("nixery_helper_redis_up 0\n"));
    EXPECT_THAT(out, Not(HasSubstr("nixery_queue_jobs")));
    // Every family has its HELP and TYPE, every line ends.
    EXPECT_EQ(out.back(), '\n');
    EXPECT_THAT(out, HasSubstr("# TYPE nixery_helper_jobs_total counter\n"));
}

TEST(QueueState, ReadFromRedis)
{
    test::RedisServer redis;
    ASSERT_TRUE(redis.up());
    QueueState empty = read_queue_state(redis.address());
    EXPECT_EQ(empty.jobs, 0);
    EXPECT_EQ(empty.running, 0);
    EXPECT_EQ(empty.oldest_age, 0);
    EXPECT_EQ(empty.helpers_alive, 0);

    auto& c = redis.client();
    std::string stream(jobs_stream);
    // A job enqueued 5 s ago (by Redis's clock), one just now; one taken.
    Reply time = c.checked({"TIME"});
    long long now_ms = std::stoll(reply_string(time->element[0])) * 1000 +
                       std::stoll(reply_string(time->element[1])) / 1000;
    c.checked(
        {"XADD", stream, std::to_string(now_ms - 5000) + "-0", "job", "a"});
    c.checked({"XADD", stream, "*", "job", "b"});
    c.checked({"XGROUP", "CREATE", stream, std::string(helpers_group), "0"});
    c.checked({"XREADGROUP", "GROUP", std::string(helpers_group), "h1", "COUNT",
               "1", "STREAMS", stream, ">"});
    c.checked({"SET", heartbeat_key("h1"), "{}"});
    c.checked({"SET", heartbeat_key("h2"), "{}"});
    c.checked({"SET", "nixery:result:x", "{}"});
    QueueState s = read_queue_state(redis.address());
    EXPECT_EQ(s.jobs, 2);
    EXPECT_EQ(s.running, 1);
    EXPECT_GE(s.oldest_age, 5.0);
    EXPECT_LT(s.oldest_age, 60.0);
    EXPECT_EQ(s.helpers_alive, 2);

    std::string out = HelperMetrics().render(s);
    EXPECT_THAT(out, HasSubstr("nixery_helper_redis_up 1\n"));
    EXPECT_THAT(out, HasSubstr("nixery_queue_jobs 2\n"));
    EXPECT_THAT(out, HasSubstr("nixery_queue_running_jobs 1\n"));
    EXPECT_THAT(out, HasSubstr("nixery_helpers_alive 2\n"));
}

TEST(QueueState, RedisDownThrows)
{
    EXPECT_ANY_THROW(read_queue_state("unix:/nonexistent/redis.sock"));
}

TEST(MeteredStorage, CountsBytesPutAndPassesThrough)
{
    test::MemoryStorage inner;
    std::unique_ptr<Storage> s = metered_storage(inner);
    std::string before = metrics().render(std::nullopt);
    auto written = [](const std::string& text) {
        std::string key = "\nnixery_helper_written_bytes_total ";
        std::size_t at = text.find(key);
        return std::stoull(text.substr(at + key.size()));
    };
    s->put("blobs/a", "12345");
    EXPECT_EQ(inner.get("blobs/a", 100), "12345");
    EXPECT_EQ(s->get("blobs/a", 100), "12345");
    EXPECT_EQ(written(metrics().render(std::nullopt)) - written(before), 5u);
}

// One HTTP exchange with the server; returns what it answered.
std::string http_exchange(const std::string& address,
                          const std::string& request)
{
    std::size_t colon = address.rfind(':');
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port =
        htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &a.sin_addr);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return "connect failed";
    }
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

TEST(MetricsServer, ServesMetricsOnly)
{
    MetricsServer server("127.0.0.1:0", [] { return std::string("m 1\n"); });
    ASSERT_THAT(server.address(), HasSubstr("127.0.0.1:"));
    server.start();
    std::string ok = http_exchange(server.address(),
                                   "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_THAT(ok, HasSubstr("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(ok, HasSubstr("Content-Type: text/plain; version=0.0.4"));
    EXPECT_THAT(ok, HasSubstr("\r\n\r\nm 1\n"));
    std::string head =
        http_exchange(server.address(), "HEAD /metrics HTTP/1.1\r\n\r\n");
    EXPECT_THAT(head, HasSubstr("Content-Length: 4\r\n"));
    EXPECT_THAT(head, Not(HasSubstr("m 1")));
    EXPECT_THAT(http_exchange(server.address(), "GET / HTTP/1.1\r\n\r\n"),
                HasSubstr("404 Not Found"));
    EXPECT_THAT(
        http_exchange(server.address(), "POST /metrics HTTP/1.1\r\n\r\n"),
        HasSubstr("405 Method Not Allowed"));
    // A client that never finishes its request is dropped, and the next
    // one served.
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(http_exchange(server.address(), "GET /metr"), "");
    EXPECT_LT(std::chrono::steady_clock::now() - started,
              std::chrono::seconds(5));
    EXPECT_THAT(http_exchange(server.address(), "GET /metrics HTTP/1.0\n\n"),
                HasSubstr("m 1"));
    server.stop();
}

TEST(MetricsServer, BadOrTakenAddressThrows)
{
    EXPECT_THROW(MetricsServer("9465", [] { return std::string(); }),
                 std::runtime_error);
    EXPECT_THROW(
        MetricsServer("127.0.0.1:notaport", [] { return std::string(); }),
        std::runtime_error);
    MetricsServer first("127.0.0.1:0", [] { return std::string(); });
    EXPECT_THROW(MetricsServer(first.address(), [] { return std::string(); }),
                 std::runtime_error);
}

} // namespace
} // namespace nixery::queue
