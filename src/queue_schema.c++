#include "queue_schema.h"
#include "json.h"

#include "digest.h"

#include <jansson.h>

#include <stdexcept>

namespace nixery::queue {

namespace {

std::string dump(const JsonPtr& obj)
{
    return json_dump(obj.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

// The writers write only what the readers read: a record is keyed by a
// canonical key, so a key that is not one is the caller's bug.
void check_key(std::string_view key)
{
    if (!is_sha256_hex(key)) {
        throw std::invalid_argument("queue: a key is 64 lowercase hex digits");
    }
}

// JSON_ALLOW_NUL: our writers never write "\u0000" (lossy_utf8), but a
// helper of an earlier version did (a build that printed a NUL), and its
// records stay in Redis for their TTL: they must still reach the waiters.
JsonPtr load(std::string_view text)
{
    return JsonPtr(json_loadb(text.data(), text.size(),
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                              nullptr));
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
    check_key(job.key);
    JsonPtr obj(json_object());
    json_object_set_new(obj.get(), "v", json_integer(1));
    json_object_set_new(obj.get(), "key", lossy_json_string(job.key));
    json_object_set_new(obj.get(), "name", lossy_json_string(job.name));
    json_object_set_new(obj.get(), "tag", lossy_json_string(job.tag));
    json_object_set_new(obj.get(), "enqueued_ms",
                        json_integer(job.enqueued_ms));
    return dump(obj);
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
    check_key(result.key);
    JsonPtr obj(json_object());
    json_object_set_new(obj.get(), "v", json_integer(1));
    json_object_set_new(obj.get(), "key", lossy_json_string(result.key));
    json_object_set_new(obj.get(), "ok", json_boolean(result.ok));
    if (!result.ok) {
        json_object_set_new(obj.get(), "code",
                            lossy_json_string(error_info(result.code).name));
        json_object_set_new(obj.get(), "message",
                            lossy_json_string(result.message));
        json_object_set_new(obj.get(), "detail",
                            lossy_json_string(result.detail));
        JsonPtr unknown(json_array());
        for (const std::string& p : result.unknown) {
            json_array_append_new(unknown.get(), lossy_json_string(p));
        }
        json_object_set_new(obj.get(), "unknown", unknown.release());
    }
    return dump(obj);
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
local max = tonumber(ARGV[4] or '0') or 0
if max > 0 then
    local n = redis.call('XLEN', KEYS[3])
    if n >= max then
        return {'full', tostring(n)}
    end
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
