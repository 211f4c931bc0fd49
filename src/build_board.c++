#include "build_board.h"

#include "digest.h"
#include "json.h"
#include "queue_schema.h"

#include <jansson.h>

#include <algorithm>
#include <stdexcept>

namespace nixery::board {

namespace {

std::string dump(const JsonPtr& obj)
{
    return json_dump(obj.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

JsonPtr load(std::string_view text)
{
    return JsonPtr(
        json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, nullptr));
}

bool get_string(json_t* obj, const char* name, std::string& out)
{
    json_t* j = json_object_get(obj, name);
    if (!json_is_string(j)) {
        return false;
    }
    out.assign(json_string_value(j), json_string_length(j));
    return true;
}

bool get_int(json_t* obj, const char* name, std::int64_t& out)
{
    json_t* j = json_object_get(obj, name);
    if (!json_is_integer(j)) {
        return false;
    }
    out = json_integer_value(j);
    return true;
}

bool version_1(json_t* obj)
{
    json_t* v = json_object_get(obj, "v");
    return json_is_integer(v) && json_integer_value(v) == 1;
}

void set_string(json_t* obj, const char* name, std::string_view value)
{
    json_object_set_new(obj, name, lossy_json_string(value));
}

void set_int(json_t* obj, const char* name, std::int64_t value)
{
    json_object_set_new(obj, name, json_integer(value));
}

void check_key(std::string_view key)
{
    if (!is_sha256_hex(key)) {
        throw std::invalid_argument("board: a key is 64 lowercase hex digits");
    }
}

bool is_continuation(char c)
{
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Where a path may start: the text's start, a space, a quote, a bracket...
bool starts_word(char c)
{
    return std::string_view(" \t\r\n'\"`([{<=,;:").find(c) !=
           std::string_view::npos;
}

bool is_path_char(char c)
{
    auto u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || u >= 0x80 ||
           std::string_view("._-+~@%/").find(c) != std::string_view::npos;
}

std::string replace_secrets(std::string_view text,
                            const std::vector<std::string>& secrets)
{
    std::string out(text);
    for (const std::string& s : secrets) {
        if (s.size() < 4) {
            continue;
        }
        for (std::size_t at = out.find(s); at != std::string::npos;
             at = out.find(s, at)) {
            out.replace(at, s.size(), "[redacted]");
            at += std::string_view("[redacted]").size();
        }
    }
    return out;
}

// scheme://user:password@host -> scheme://[redacted]@host
std::string replace_userinfo(std::string_view text)
{
    std::string out;
    std::size_t from = 0;
    for (std::size_t at = text.find("://"); at != std::string_view::npos;
         at = text.find("://", at)) {
        std::size_t begin = at + 3;
        std::size_t end = begin;
        while (end < text.size() &&
               std::string_view("/ \t\r\n\"'@").find(text[end]) ==
                   std::string_view::npos) {
            ++end;
        }
        if (end < text.size() && text[end] == '@' && end > begin) {
            out.append(text.substr(from, begin - from));
            out += "[redacted]";
            from = end;
        }
        at = begin;
    }
    out.append(text.substr(from));
    return out;
}

std::string replace_paths(std::string_view text)
{
    constexpr std::string_view store = "/nix/store/";
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        bool path = text[i] == '/' && (i == 0 || starts_word(text[i - 1])) &&
                    i + 1 < text.size() && text[i + 1] != '/' &&
                    is_path_char(text[i + 1]);
        if (!path) {
            out.push_back(text[i++]);
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && is_path_char(text[end])) {
            ++end;
        }
        std::string_view p = text.substr(i, end - i);
        if (p.starts_with(store) && p.size() > store.size()) {
            out.append(p);
        } else {
            out += "[path]";
        }
        i = end;
    }
    return out;
}

json_t* render_build(const Build& b, std::int64_t waiting, std::int64_t now_ms)
{
    JsonPtr o(json_object());
    set_string(o.get(), "image", b.name + ":" + b.tag);
    set_string(o.get(), "name", b.name);
    set_string(o.get(), "tag", b.tag);
    set_string(o.get(), "phase", b.phase);
    std::string status = b.phase;
    if (b.phase == "building") {
        set_int(o.get(), "layer", b.layer);
        set_int(o.get(), "layers", b.layers);
        status = "building layer " + std::to_string(b.layer) + " of " +
                 std::to_string(b.layers);
    }
    set_string(o.get(), "status", status);
    set_int(o.get(), "started_ms", b.started_ms);
    set_int(o.get(), "elapsed_s",
            std::max<std::int64_t>(0, (now_ms - b.started_ms) / 1000));
    set_int(o.get(), "waiting", std::max<std::int64_t>(0, waiting));
    return o.release();
}

json_t* render_failure(const Failure& f)
{
    JsonPtr o(json_object());
    set_string(o.get(), "image", f.name + ":" + f.tag);
    set_string(o.get(), "name", f.name);
    set_string(o.get(), "tag", f.tag);
    set_string(o.get(), "code", f.code);
    set_string(o.get(), "message", redact(f.message));
    set_string(o.get(), "detail", trim_middle(redact(f.detail), detail_max));
    set_int(o.get(), "finished_ms", f.finished_ms);
    set_int(o.get(), "duration_s", f.duration_ms / 1000);
    return o.release();
}

json_t* render_queue(const Snapshot& s)
{
    JsonPtr q(json_object());
    set_int(q.get(), "jobs", s.jobs);
    set_int(q.get(), "building", s.pending);
    set_int(q.get(), "queued", std::max<std::int64_t>(0, s.jobs - s.pending));
    if (s.oldest_id.empty()) {
        json_object_set_new(q.get(), "oldest", json_null());
        return q.release();
    }
    JsonPtr oldest(json_object());
    std::optional<queue::Job> job = queue::parse_job(s.oldest_job);
    // The stream id starts with the milliseconds it was added at.
    std::int64_t enqueued = 0;
    if (job) {
        enqueued = job->enqueued_ms;
        set_string(oldest.get(), "image", job->name + ":" + job->tag);
    } else {
        try {
            enqueued = std::stoll(s.oldest_id.substr(0, s.oldest_id.find('-')));
        } catch (const std::logic_error&) {
            enqueued = s.now_ms;
        }
        json_object_set_new(oldest.get(), "image", json_null());
    }
    set_int(oldest.get(), "enqueued_ms", enqueued);
    set_int(oldest.get(), "age_s",
            std::max<std::int64_t>(0, (s.now_ms - enqueued) / 1000));
    json_object_set_new(q.get(), "oldest", oldest.release());
    return q.release();
}

} // namespace

std::string waiters_key(std::string_view key)
{
    return std::string(waiters_prefix) + std::string(key);
}

std::string waiters_value(std::int64_t count, std::int64_t expires_ms)
{
    return std::to_string(count) + " " + std::to_string(expires_ms);
}

std::string format_build(const Build& b)
{
    check_key(b.key);
    JsonPtr o(json_object());
    set_int(o.get(), "v", 1);
    set_string(o.get(), "key", b.key);
    set_string(o.get(), "name", b.name);
    set_string(o.get(), "tag", b.tag);
    set_string(o.get(), "helper", b.helper);
    set_string(o.get(), "phase", b.phase);
    set_int(o.get(), "layer", b.layer);
    set_int(o.get(), "layers", b.layers);
    set_int(o.get(), "enqueued_ms", b.enqueued_ms);
    set_int(o.get(), "started_ms", b.started_ms);
    // Last: the read script finds it with a pattern.
    set_int(o.get(), "expires_ms", b.expires_ms);
    return dump(o);
}

std::optional<Build> parse_build(std::string_view text)
{
    JsonPtr o = load(text);
    if (!json_is_object(o.get()) || !version_1(o.get())) {
        return std::nullopt;
    }
    Build b;
    if (!get_string(o.get(), "key", b.key) || !is_sha256_hex(b.key) ||
        !get_string(o.get(), "name", b.name) ||
        !get_string(o.get(), "tag", b.tag) ||
        !get_string(o.get(), "helper", b.helper) ||
        !get_string(o.get(), "phase", b.phase) ||
        !get_int(o.get(), "layer", b.layer) ||
        !get_int(o.get(), "layers", b.layers) ||
        !get_int(o.get(), "enqueued_ms", b.enqueued_ms) ||
        !get_int(o.get(), "started_ms", b.started_ms) ||
        !get_int(o.get(), "expires_ms", b.expires_ms)) {
        return std::nullopt;
    }
    return b;
}

std::string format_failure(const Failure& f,
                           const std::vector<std::string>& secrets)
{
    check_key(f.key);
    JsonPtr o(json_object());
    set_int(o.get(), "v", 1);
    set_string(o.get(), "key", f.key);
    set_string(o.get(), "name", f.name);
    set_string(o.get(), "tag", f.tag);
    set_string(o.get(), "code", f.code);
    set_string(o.get(), "message", redact(f.message, secrets));
    set_string(o.get(), "detail",
               trim_middle(redact(f.detail, secrets), detail_max));
    set_int(o.get(), "finished_ms", f.finished_ms);
    set_int(o.get(), "duration_ms", f.duration_ms);
    return dump(o);
}

std::optional<Failure> parse_failure(std::string_view text)
{
    JsonPtr o = load(text);
    if (!json_is_object(o.get()) || !version_1(o.get())) {
        return std::nullopt;
    }
    Failure f;
    if (!get_string(o.get(), "key", f.key) || !is_sha256_hex(f.key) ||
        !get_string(o.get(), "name", f.name) ||
        !get_string(o.get(), "tag", f.tag) ||
        !get_string(o.get(), "code", f.code) ||
        !get_string(o.get(), "message", f.message) ||
        !get_string(o.get(), "detail", f.detail) ||
        !get_int(o.get(), "finished_ms", f.finished_ms) ||
        !get_int(o.get(), "duration_ms", f.duration_ms)) {
        return std::nullopt;
    }
    return f;
}

std::string redact(std::string_view text,
                   const std::vector<std::string>& secrets)
{
    return replace_paths(replace_userinfo(replace_secrets(text, secrets)));
}

std::string trim_middle(std::string_view text, std::size_t max)
{
    constexpr std::string_view marker = "\n[...]\n";
    if (text.size() <= max) {
        return std::string(text);
    }
    if (max <= marker.size()) {
        return std::string(marker.substr(0, max));
    }
    std::size_t half = (max - marker.size()) / 2;
    std::size_t head = half;
    while (head > 0 && is_continuation(text[head])) {
        --head;
    }
    std::size_t tail = text.size() - half;
    while (tail < text.size() && is_continuation(text[tail])) {
        ++tail;
    }
    std::string out(text.substr(0, head));
    out += marker;
    out += text.substr(tail);
    return out;
}

const std::string_view read_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local jobs = redis.call('XLEN', KEYS[2])
local oldest_id, oldest = '', ''
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if first[1] then
    oldest_id = first[1][1]
    local f = first[1][2]
    for i = 1, #f, 2 do
        if f[i] == 'job' then oldest = f[i + 1] end
    end
end
local pending = 0
local ok, p = pcall(redis.call, 'XPENDING', KEYS[2], ARGV[1])
if ok and type(p) == 'table' and type(p[1]) == 'number' then
    pending = p[1]
end
local builds = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
    local rec = all[i + 1]
    local exp = tonumber(string.match(rec, '"expires_ms":(%d+)}$') or '')
    if exp ~= nil and exp < now then
        redis.call('HDEL', KEYS[1], all[i])
    else
        local n = 0
        for _, v in ipairs(redis.call('HVALS', ARGV[3] .. all[i])) do
            local c, e = string.match(v, '^(%d+) (%d+)$')
            if c and tonumber(e) >= now then n = n + tonumber(c) end
        end
        builds[#builds + 1] = rec
        builds[#builds + 1] = n
    end
end
local failures = redis.call('LRANGE', KEYS[3], 0, tonumber(ARGV[2]) - 1)
return {now, jobs, pending, oldest_id, oldest, builds, failures}
)lua";

std::string render_board_json(const Snapshot& s)
{
    std::vector<std::pair<Build, std::int64_t>> builds;
    for (const Snapshot::Entry& e : s.builds) {
        if (std::optional<Build> b = parse_build(e.record)) {
            builds.emplace_back(std::move(*b), e.waiting);
        }
    }
    std::stable_sort(builds.begin(), builds.end(),
                     [](const auto& a, const auto& b) {
                         return a.first.started_ms < b.first.started_ms;
                     });
    JsonPtr doc(json_object());
    set_int(doc.get(), "now_ms", s.now_ms);
    JsonPtr list(json_array());
    for (const auto& [b, waiting] : builds) {
        json_array_append_new(list.get(), render_build(b, waiting, s.now_ms));
    }
    json_object_set_new(doc.get(), "builds", list.release());
    json_object_set_new(doc.get(), "queue", render_queue(s));
    JsonPtr failures(json_array());
    for (const std::string& text : s.failures) {
        if (std::optional<Failure> f = parse_failure(text)) {
            json_array_append_new(failures.get(), render_failure(*f));
        }
    }
    json_object_set_new(doc.get(), "failures", failures.release());
    return dump(doc) + "\n";
}

} // namespace nixery::board
