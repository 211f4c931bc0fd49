#include "popularity.h"
#include "json_ptr.h"

#include <jansson.h>

#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace nixery {

namespace {

// Popularity files are a few MB; anything far larger is not one.
constexpr std::size_t max_popularity_bytes = 256 << 20;

constexpr std::uint64_t forced_popularity = 500000;

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("popularity: cannot open " + path);
    }
    std::ostringstream out;
    out << in.rdbuf();
    if (in.bad()) {
        throw std::runtime_error("popularity: cannot read " + path);
    }
    return std::move(out).str();
}

// GET a URL with the curl program: argv only, bounded time and size.
std::string fetch_url(const std::string& url)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::runtime_error("popularity: pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    std::string max_size = std::to_string(max_popularity_bytes);
    const char* argv[] = {"curl",      "--silent",       "--show-error",
                          "--fail",    "--location",     "--max-time",
                          "60",        "--max-filesize", max_size.c_str(),
                          "--proto",   "=http,https",    "--",
                          url.c_str(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, "curl", &actions, nullptr,
                          const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::runtime_error("popularity: cannot run curl");
    }
    std::string body;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (body.size() + static_cast<std::size_t>(n) <= max_popularity_bytes) {
            body.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("popularity: fetching " + url +
                                 " failed (curl exit " +
                                 std::to_string(WEXITSTATUS(status)) + ")");
    }
    return body;
}

} // namespace

Popularity parse_popularity(std::string_view text)
{
    json_error_t err;
    JsonPtr root(json_loadb(text.data(), text.size(), 0, &err));
    if (!root) {
        throw std::runtime_error(std::string("popularity: bad JSON: ") +
                                 err.text);
    }
    if (!json_is_object(root.get())) {
        throw std::runtime_error("popularity: not a JSON object");
    }
    Popularity out;
    const char* key = nullptr;
    json_t* value = nullptr;
    json_object_foreach(root.get(), key, value)
    {
        if (!json_is_integer(value) || json_integer_value(value) < 0) {
            throw std::runtime_error(std::string("popularity: count of \"") +
                                     key + "\" is not a non-negative integer");
        }
        out.emplace(key, static_cast<std::uint64_t>(json_integer_value(value)));
    }
    return out;
}

Popularity load_popularity(const std::string& source)
{
    if (source.empty()) {
        return {};
    }
    if (source.starts_with("http://") || source.starts_with("https://")) {
        return parse_popularity(fetch_url(source));
    }
    return parse_popularity(read_file(source));
}

std::string_view store_path_name(std::string_view path) noexcept
{
    auto slash = path.find_last_of('/');
    std::string_view base = slash == path.npos ? path : path.substr(slash + 1);
    auto dash = base.find('-');
    return dash == base.npos ? base : base.substr(dash + 1);
}

std::string_view name_without_version(std::string_view name) noexcept
{
    for (std::size_t i = 0; i + 1 < name.size(); ++i) {
        if (name[i] == '-' && name[i + 1] >= '0' && name[i + 1] <= '9') {
            return name.substr(0, i);
        }
    }
    return name;
}

std::uint64_t path_popularity(const Popularity* popularity,
                              std::string_view path)
{
    std::string_view name = store_path_name(path);
    // Every image carries these two (Nixery forces them the same way): a
    // high count keeps them in small layers of their own, shared by all.
    if (name.starts_with("nss-cacert") || name.starts_with("iana-etc")) {
        return forced_popularity;
    }
    if (popularity != nullptr) {
        if (auto it = popularity->find(name); it != popularity->end()) {
            return it->second;
        }
        if (auto it = popularity->find(name_without_version(name));
            it != popularity->end()) {
            return it->second;
        }
    }
    return 1;
}

} // namespace nixery
