#include "base/log.h"
#include "json.h"

#include <jansson.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace nixery::log {

namespace {

std::atomic<int> min_level{static_cast<int>(Level::info)};
std::atomic<int> out_fd{2};

std::string_view level_name(Level l) noexcept
{
    switch (l) {
    case Level::debug:
        return "debug";
    case Level::info:
        return "info";
    case Level::warn:
        return "warn";
    case Level::error:
        return "error";
    }
    return "info";
}

// Nix output can be anything: lossy_json_string keeps the line valid JSON.
void set_string(json_t* obj, std::string_view key, std::string_view value)
{
    std::string k(key);
    json_object_set_new(obj, k.c_str(), lossy_json_string(value));
}

std::string now_iso8601()
{
    using namespace std::chrono;
    auto now = system_clock::now();
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return buf;
}

} // namespace

void set_level(Level level) noexcept
{
    min_level.store(static_cast<int>(level));
}

void set_fd(int fd) noexcept
{
    out_fd.store(fd);
}

std::string format(Level level, std::string_view msg,
                   std::initializer_list<Field> fields)
{
    JsonPtr root(json_object());
    json_t* obj = root.get();
    set_string(obj, "time", now_iso8601());
    set_string(obj, "level", level_name(level));
    set_string(obj, "msg", msg);
    for (const Field& f : fields) {
        std::string k(f.key);
        if (auto* s = std::get_if<std::string_view>(&f.value)) {
            set_string(obj, k, *s);
        } else if (auto* i = std::get_if<std::int64_t>(&f.value)) {
            json_object_set_new(obj, k.c_str(), json_integer(*i));
        } else if (auto* d = std::get_if<double>(&f.value)) {
            json_object_set_new(obj, k.c_str(), json_real(*d));
        } else if (auto* b = std::get_if<bool>(&f.value)) {
            json_object_set_new(obj, k.c_str(), json_boolean(*b));
        }
    }
    std::string line = json_dump(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    line.push_back('\n');
    return line;
}

void emit(Level level, std::string_view msg,
          std::initializer_list<Field> fields)
{
    if (static_cast<int>(level) < min_level.load()) {
        return;
    }
    try {
        std::string line = format(level, msg, fields);
        const char* p = line.data();
        std::size_t left = line.size();
        while (left > 0) {
            ssize_t n = ::write(out_fd.load(), p, left);
            if (n <= 0) {
                break;
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    } catch (...) {
        // Logging must never take the helper down.
    }
}

} // namespace nixery::log
