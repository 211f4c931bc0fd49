// Test support: a private redis-server on a unix socket in a temp
// directory, started for one test and killed after it.
#pragma once

#include "queue/redis.h"
#include "temp_tree.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <memory>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace nixery::test {

class RedisServer {
  public:
    RedisServer() : socket_(dir_ / "redis.sock")
    {
        pid_ = ::fork();
        if (pid_ == 0) {
            int null = ::open("/dev/null", O_WRONLY);
            ::dup2(null, 1);
            ::dup2(null, 2);
            ::execlp("redis-server", "redis-server", "--port", "0",
                     "--unixsocket", socket_.c_str(), "--save", "",
                     "--appendonly", "no", "--dir", dir_.path().c_str(),
                     nullptr);
            ::_exit(127);
        }
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            try {
                client_ = std::make_unique<queue::RedisClient>(
                    address(), std::chrono::seconds(1));
                if (queue::reply_string(client_->command({"PING"}).get()) ==
                    "PONG") {
                    return;
                }
            } catch (const queue::RedisError&) {
            }
            client_.reset();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ~RedisServer()
    {
        client_.reset();
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    bool up() const { return client_ != nullptr; }
    std::string address() const { return "unix:" + socket_; }
    // A connection of the test's own, to look at and change keys.
    queue::RedisClient& client() { return *client_; }

  private:
    TempDir dir_;
    std::string socket_;
    pid_t pid_ = -1;
    std::unique_ptr<queue::RedisClient> client_;
};

} // namespace nixery::test
