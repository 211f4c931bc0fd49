#include "queue/progress.h"

#include "base/log.h"
#include "errors.h"

#include <cstdlib>

namespace nixery::queue {

namespace {

using namespace std::chrono_literals;

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Credentials the helper may have been given: none of them may reach the
// board, whatever Nix or a storage backend put in a message.
std::vector<std::string> env_secrets()
{
    std::vector<std::string> out;
    for (const char* name : {"NIXERY_REDIS_PASSWORD", "AWS_SECRET_ACCESS_KEY",
                             "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"}) {
        if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
            out.emplace_back(v);
        }
    }
    return out;
}

} // namespace

ProgressBoard::ProgressBoard(std::string redis, std::string helper_id,
                             std::chrono::seconds heartbeat,
                             std::vector<std::string> secrets)
    : redis_(std::move(redis)), helper_id_(std::move(helper_id)),
      ttl_(
          std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat * 3)),
      secrets_(std::move(secrets))
{
    for (std::string& s : env_secrets()) {
        secrets_.push_back(std::move(s));
    }
}

std::string ProgressBoard::record(board::Build& build)
{
    build.expires_ms = now_ms() + ttl_.count();
    return board::format_build(build);
}

// Called with mutex_ held. One attempt; a failure drops the connection.
void ProgressBoard::write(const std::vector<std::vector<std::string>>& commands)
{
    try {
        if (!client_) {
            client_ = std::make_unique<RedisClient>(redis_, 2s);
        }
        for (const std::vector<std::string>& argv : commands) {
            client_->checked(argv);
        }
    } catch (const std::exception& e) {
        client_.reset();
        log::warn("build board not updated", {{"error", e.what()}});
    }
}

void ProgressBoard::begin(const Job& job)
{
    board::Build b;
    b.key = job.key;
    b.name = job.name;
    b.tag = job.tag;
    b.helper = helper_id_;
    b.phase = "resolving";
    b.enqueued_ms = job.enqueued_ms;
    b.started_ms = now_ms();
    std::lock_guard lock(mutex_);
    std::string text = record(b);
    builds_[job.key] = std::move(b);
    write({{"HSET", std::string(board::builds_hash), job.key, text}});
}

void ProgressBoard::phase(const std::string& key, std::string_view phase,
                          std::size_t layer, std::size_t layers)
{
    std::lock_guard lock(mutex_);
    auto it = builds_.find(key);
    if (it == builds_.end()) {
        return;
    }
    board::Build& b = it->second;
    // Layers finish out of order on several threads: never step back.
    if (b.phase == phase && phase == "building" &&
        static_cast<std::int64_t>(layer) <= b.layer) {
        return;
    }
    b.phase = phase;
    b.layer = static_cast<std::int64_t>(layer);
    b.layers = static_cast<std::int64_t>(layers);
    write({{"HSET", std::string(board::builds_hash), key, record(b)}});
}

void ProgressBoard::end(const std::string& key)
{
    std::lock_guard lock(mutex_);
    builds_.erase(key);
    write({{"HDEL", std::string(board::builds_hash), key}});
}

void ProgressBoard::failed(const Job& job, const Result& result,
                           std::int64_t started_ms)
{
    board::Failure f;
    f.key = job.key;
    f.name = job.name;
    f.tag = job.tag;
    f.code = std::string(error_info(result.code).name);
    f.message = result.message;
    f.detail = result.detail;
    f.finished_ms = now_ms();
    f.duration_ms = f.finished_ms - started_ms;
    std::string text = board::format_failure(f, secrets_);
    std::lock_guard lock(mutex_);
    write({{"LPUSH", std::string(board::failures_list), text},
           {"LTRIM", std::string(board::failures_list), "0",
            std::to_string(board::failures_kept - 1)}});
}

void ProgressBoard::refresh()
{
    std::lock_guard lock(mutex_);
    if (builds_.empty()) {
        return;
    }
    std::vector<std::string> argv{"HSET", std::string(board::builds_hash)};
    for (auto& [key, b] : builds_) {
        argv.push_back(key);
        argv.push_back(record(b));
    }
    write({argv});
}

} // namespace nixery::queue
