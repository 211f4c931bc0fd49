#include "queue_schema.h"
#include "json_ptr.h"

#include "digest.h"

#include <jansson.h>

#include <memory>
#include <stdexcept>

namespace nixery::queue {

namespace {

json_t* json_str(std::string_view s)
{
    json_t* j = json_stringn(s.data(), s.size());
    if (j == nullptr) {
        // Builder messages may hold any bytes: keep what is ASCII.
        std::string cleaned;
        for (char c : s) {
            cleaned.push_back(static_cast<unsigned char>(c) < 0x80 ? c : '?');
        }
        j = json_stringn(cleaned.data(), cleaned.size());
    }
    if (j == nullptr) {
        throw std::runtime_error("queue: cannot encode string");
    }
    return j;
}

std::string dump(json_t* obj)
{
    char* text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == nullptr) {
        throw std::runtime_error("queue: cannot encode JSON");
    }
    std::string out(text);
    free(text);
    return out;
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

bool version_1(json_t* obj)
{
    json_t* v = json_object_get(obj, "v");
    return json_is_integer(v) && json_integer_value(v) == 1;
}

} // namespace

std::string inflight_key(std::string_view key)
{
    return "nixery:inflight:" + std::string(key);
}

std::string result_key(std::string_view key)
{
    return "nixery:result:" + std::string(key);
}

std::string unknown_key(Arch arch, std::string_view tag,
                        std::string_view package)
{
    // NUL-separated like the canonical encoding, so no two triples collide.
    std::string record = "nixery-unknown-v1";
    record.push_back('\0');
    record += arch_name(arch);
    record.push_back('\0');
    record += tag;
    record.push_back('\0');
    record += package;
    return "nixery:unknown:" + sha256_hex(record);
}

std::string heartbeat_key(std::string_view helper_id)
{
    return "nixery:helper:" + std::string(helper_id);
}

Job make_job(const ImageRequest& request, std::int64_t now_ms)
{
    return Job{canonical_key(request), request.name, request.tag, now_ms};
}

std::string format_job(const Job& job)
{
    JsonPtr obj(json_object());
    json_object_set_new(obj.get(), "v", json_integer(1));
    json_object_set_new(obj.get(), "key", json_str(job.key));
    json_object_set_new(obj.get(), "name", json_str(job.name));
    json_object_set_new(obj.get(), "tag", json_str(job.tag));
    json_object_set_new(obj.get(), "enqueued_ms",
                        json_integer(job.enqueued_ms));
    return dump(obj.get());
}

std::optional<Job> parse_job(std::string_view text)
{
    JsonPtr obj = load(text);
    if (!json_is_object(obj.get()) || !version_1(obj.get())) {
        return std::nullopt;
    }
    Job job;
    if (!get_string(obj.get(), "key", job.key) || !is_sha256_hex(job.key) ||
        !get_string(obj.get(), "name", job.name) ||
        !get_string(obj.get(), "tag", job.tag)) {
        return std::nullopt;
    }
    json_t* t = json_object_get(obj.get(), "enqueued_ms");
    if (!json_is_integer(t)) {
        return std::nullopt;
    }
    job.enqueued_ms = json_integer_value(t);
    return job;
}

Result ok_result(std::string_view key)
{
    Result r;
    r.key = key;
    r.ok = true;
    return r;
}

Result unknown_packages_result(std::string_view key,
                               std::vector<std::string> packages)
{
    Result r;
    r.key = key;
    r.code = ErrorCode::manifest_unknown;
    r.message = "unknown package";
    r.message += packages.size() == 1 ? ": " : "s: ";
    for (std::size_t i = 0; i < packages.size(); ++i) {
        if (i != 0) {
            r.message += ", ";
        }
        r.message += packages[i];
    }
    r.unknown = std::move(packages);
    return r;
}

Result failure_result(std::string_view key, std::string_view message,
                      std::string_view detail)
{
    Result r;
    r.key = key;
    r.code = ErrorCode::unknown;
    r.message = message;
    r.detail = detail;
    return r;
}

std::string format_result(const Result& result)
{
    JsonPtr obj(json_object());
    json_object_set_new(obj.get(), "v", json_integer(1));
    json_object_set_new(obj.get(), "key", json_str(result.key));
    json_object_set_new(obj.get(), "ok", json_boolean(result.ok));
    if (!result.ok) {
        json_object_set_new(obj.get(), "code",
                            json_str(error_info(result.code).name));
        json_object_set_new(obj.get(), "message", json_str(result.message));
        json_object_set_new(obj.get(), "detail", json_str(result.detail));
        json_t* unknown = json_array();
        for (const std::string& p : result.unknown) {
            json_array_append_new(unknown, json_str(p));
        }
        json_object_set_new(obj.get(), "unknown", unknown);
    }
    return dump(obj.get());
}

std::optional<Result> parse_result(std::string_view text)
{
    JsonPtr obj = load(text);
    if (!json_is_object(obj.get()) || !version_1(obj.get())) {
        return std::nullopt;
    }
    Result r;
    json_t* ok = json_object_get(obj.get(), "ok");
    if (!get_string(obj.get(), "key", r.key) || !is_sha256_hex(r.key) ||
        !json_is_boolean(ok)) {
        return std::nullopt;
    }
    r.ok = json_is_true(ok);
    if (r.ok) {
        return r;
    }
    std::string code;
    if (!get_string(obj.get(), "code", code) ||
        !get_string(obj.get(), "message", r.message) ||
        !get_string(obj.get(), "detail", r.detail)) {
        return std::nullopt;
    }
    std::optional<ErrorCode> c = error_code_from_name(code);
    if (!c) {
        return std::nullopt;
    }
    r.code = *c;
    json_t* unknown = json_object_get(obj.get(), "unknown");
    if (!json_is_array(unknown)) {
        return std::nullopt;
    }
    std::size_t i;
    json_t* p;
    json_array_foreach(unknown, i, p)
    {
        if (!json_is_string(p)) {
            return std::nullopt;
        }
        r.unknown.emplace_back(json_string_value(p), json_string_length(p));
    }
    return r;
}

std::string result_error_json(const Result& result)
{
    return error_json(result.code, result.message, result.detail);
}

const std::string_view enqueue_script = R"lua(
local r = redis.call('GET', KEYS[1])
if r then
    if ARGV[3] ~= 'drop-result' then
        return {'result', r}
    end
    redis.call('DEL', KEYS[1])
end
local id = redis.call('GET', KEYS[2])
if id then
    return {'waiting', id}
end
id = redis.call('XADD', KEYS[3], '*', 'job', ARGV[1])
redis.call('SET', KEYS[2], id, 'EX', ARGV[2])
return {'queued', id}
)lua";

const std::string_view complete_script = R"lua(
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local n = redis.call('PUBLISH', ARGV[3], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('XACK', KEYS[3], ARGV[4], ARGV[5])
redis.call('XDEL', KEYS[3], ARGV[5])
return n
)lua";

} // namespace nixery::queue
