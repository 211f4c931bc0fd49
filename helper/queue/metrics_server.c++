#include "queue/metrics_server.h"

#include "base/log.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace nixery::queue {

namespace {

using Clock = std::chrono::steady_clock;

// The request head ends with an empty line; more than this is no scrape.
constexpr std::size_t max_head = 8192;
constexpr int request_timeout_ms = 2000;

void send_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; // the scraper went away: nothing to do
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

void answer(int fd, const char* status, std::string_view type,
            std::string_view body, bool head_only)
{
    std::string head = std::string("HTTP/1.1 ") + status +
                       "\r\nContent-Type: " + std::string(type) +
                       "\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n\r\n";
    send_all(fd, head);
    if (!head_only) {
        send_all(fd, body);
    }
}

std::string describe(const sockaddr_storage& a)
{
    char host[INET6_ADDRSTRLEN] = {};
    unsigned port = 0;
    if (a.ss_family == AF_INET6) {
        const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&a);
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        return "[" + std::string(host) + "]:" + std::to_string(port);
    }
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    port = ntohs(s4->sin_port);
    return std::string(host) + ":" + std::to_string(port);
}

} // namespace

MetricsServer::MetricsServer(const std::string& listen,
                             std::function<std::string()> render)
    : render_(std::move(render))
{
    std::size_t colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 ||
        colon + 1 == listen.size()) {
        throw std::runtime_error("--metrics-listen: expected HOST:PORT, not '" +
                                 listen + "'");
    }
    std::string host = listen.substr(0, colon);
    std::string port = listen.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
        rc != 0) {
        throw std::runtime_error("--metrics-listen " + listen + ": " +
                                 gai_strerror(rc));
    }
    std::string error = "no address";
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                          ai->ai_protocol);
        if (fd < 0) {
            error = std::strerror(errno);
            continue;
        }
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            ::listen(fd, 16) == 0) {
            listen_fd_ = fd;
            break;
        }
        error = std::strerror(errno);
        ::close(fd);
    }
    freeaddrinfo(found);
    if (listen_fd_ < 0) {
        throw std::runtime_error("--metrics-listen " + listen + ": " + error);
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
    address_ = describe(bound);
}

MetricsServer::~MetricsServer()
{
    stop();
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
    }
}

void MetricsServer::start()
{
    thread_ = std::thread([this] { run(); });
    log::info("metrics listening", {{"address", address_}});
}

void MetricsServer::stop() noexcept
{
    stopping_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
}

void MetricsServer::run() noexcept
{
    while (!stopping_) {
        // Wake up now and then to notice stop().
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) {
            continue;
        }
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        try {
            serve(fd);
        } catch (const std::exception& e) {
            log::warn("metrics request failed", {{"error", e.what()}});
        }
        ::close(fd);
    }
}

void MetricsServer::serve(int fd)
{
    std::string head;
    auto deadline =
        Clock::now() + std::chrono::milliseconds(request_timeout_ms);
    while (head.find("\r\n\r\n") == std::string::npos &&
           head.find("\n\n") == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - Clock::now())
                        .count();
        if (left <= 0 || head.size() > max_head) {
            return;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
            return;
        }
        char buf[2048];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return;
        }
        head.append(buf, static_cast<std::size_t>(n));
    }
    std::string_view line(head);
    line = line.substr(0, line.find_first_of("\r\n"));
    std::string_view method = line.substr(0, line.find(' '));
    std::string_view rest =
        line.substr(std::min(line.size(), method.size() + 1));
    std::string_view target = rest.substr(0, rest.find(' '));
    target = target.substr(0, target.find('?'));
    bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) {
        answer(fd, "405 Method Not Allowed", "text/plain; charset=utf-8",
               "only GET and HEAD\n", false);
        return;
    }
    if (target != "/metrics") {
        answer(fd, "404 Not Found", "text/plain; charset=utf-8",
               "the metrics are at /metrics\n", head_only);
        return;
    }
    answer(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", render_(),
           head_only);
}

} // namespace nixery::queue
