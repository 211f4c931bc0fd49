// Structured logging for the helper: one JSON object per line on stderr,
//
//     {"time":"2026-11-25T13:00:00.123Z","level":"info","msg":"...", ...}
//
// with any number of string or integer fields (image, job, duration_ms...).
// Lines are written with a single write(2), so concurrent threads never
// interleave within a line.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace nixery::log {

enum class Level { debug, info, warn, error };

struct Field {
    std::string_view key;
    std::variant<std::string_view, std::int64_t, double, bool> value;

    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v)
        : key(k), value(std::string_view(v))
    {
    }
    Field(std::string_view k, const char* v)
        : key(k), value(std::string_view(v))
    {
    }
    template <typename Int>
    requires std::is_integral_v<Int> &&
        (!std::is_same_v<Int, bool>)Field(std::string_view k, Int v)
        : key(k), value(std::int64_t(v))
    {
    }
    Field(std::string_view k, double v) : key(k), value(v) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}
};

// Lines below this level are dropped (default: info; NIXERY_LOG_LEVEL).
void set_level(Level level) noexcept;
// Write to this fd instead of stderr (tests).
void set_fd(int fd) noexcept;

// The JSON line for an event, without writing it (tests, and emit()).
std::string format(Level level, std::string_view msg,
                   std::initializer_list<Field> fields);

void emit(Level level, std::string_view msg,
          std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {})
{
    emit(Level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {})
{
    emit(Level::info, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {})
{
    emit(Level::warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {})
{
    emit(Level::error, m, f);
}

} // namespace nixery::log
