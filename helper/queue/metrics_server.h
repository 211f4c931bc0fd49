// The helper's metrics endpoint: a tiny HTTP/1.x server on one thread of
// its own (`nixery-helper --metrics-listen ADDR:PORT`) that answers
// `GET /metrics` with metrics.h's text, one connection at a time, and
// closes each connection after its answer. A scrape is a few KiB every few
// seconds; a connection that sends no complete request within two
// seconds is dropped, so a stuck client cannot hold it for long. It never
// touches the daemon's threads: the counters are atomics, and the queue's
// state is read over a Redis connection of its own, per scrape.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace nixery::queue {

class MetricsServer {
  public:
    // Binds and listens at once: "HOST:PORT" ("127.0.0.1:9465",
    // "[::1]:9465", "0.0.0.0:9465"; port 0 picks a free one). Throws
    // std::runtime_error when the address is bad or cannot be bound.
    // `render` makes the body of each answer (it may block briefly).
    MetricsServer(const std::string& listen,
                  std::function<std::string()> render);
    ~MetricsServer(); // stops and joins
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // "127.0.0.1:9465": where it listens (the port chosen, for port 0).
    const std::string& address() const noexcept { return address_; }
    void start();
    void stop() noexcept;

  private:
    void run() noexcept;
    void serve(int fd);

    int listen_fd_ = -1;
    std::string address_;
    std::function<std::string()> render_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace nixery::queue
