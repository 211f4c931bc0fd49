// The build queue's schema: Redis key names, the job and result records,
// and the Lua scripts that make enqueueing and completing atomic.
//
// The nginx module (producer, waiter) and the helper daemon (consumer) talk
// only through these keys and formats, so both include this one header and
// agree byte for byte. docs/redis.md documents every key: its type, TTL,
// writer and reader. Nothing here touches the network; the module speaks
// RESP through hiredis's reader on nginx's event loop, the helper through
// hiredis's blocking client.
#pragma once

#include "errors.h"
#include "image_request.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery::queue {

// The stream of build jobs, consumed by the helpers' consumer group.
inline constexpr std::string_view jobs_stream = "nixery:jobs";
inline constexpr std::string_view helpers_group = "nixery-helpers";
// The pub/sub channel on which every build result is announced; every nginx
// worker subscribes to it once.
inline constexpr std::string_view done_channel = "nixery:done";
// SCAN/KEYS pattern matching every live helper's heartbeat key.
inline constexpr std::string_view heartbeat_pattern = "nixery:helper:*";

// How long an in-flight marker lives at most. The helper deletes it when it
// announces the result; the TTL only matters if Redis loses the job.
inline constexpr int inflight_ttl_seconds = 3600;
// How long a build's result stays readable after its announcement: long
// enough to close the race between a module's index check and its enqueue.
// Unknown-package results stay for the helper's --unknown-ttl instead.
inline constexpr int result_ttl_seconds = 60;

// "nixery:inflight:<key>": a build of <key> is queued or running.
std::string inflight_key(std::string_view key);
// "nixery:result:<key>": the last announced result for <key>.
std::string result_key(std::string_view key);
// "nixery:unknown:<sha256(arch, tag, package)>": `package` is not in the
// package set for that tag and architecture (the negative cache).
std::string unknown_key(Arch arch, std::string_view tag,
                        std::string_view package);
// "nixery:helper:<id>": a live helper's heartbeat.
std::string heartbeat_key(std::string_view helper_id);

// A build job: what the module enqueues. The helper parses the name and tag
// again with the same core code and checks that the key matches, so a
// module and a helper of different versions never build the wrong image.
struct Job {
    std::string key;  // canonical_key() of the request
    std::string name; // image name as requested, e.g. "shell/git"
    std::string tag;
    std::int64_t enqueued_ms = 0; // Unix time in milliseconds

    bool operator==(const Job&) const = default;
};

Job make_job(const ImageRequest& request, std::int64_t now_ms);
// Compact JSON: {"v":1,"key":...,"name":...,"tag":...,"enqueued_ms":...}
// Throws std::invalid_argument when the key is not 64 lowercase hex digits
// (parse_job() would refuse it). Strings may hold any bytes: they are
// written as lossy_utf8() (json.h), so parse_job(format_job(j)) is `j` with
// its strings through lossy_utf8(), and exactly `j` when they are UTF-8
// without NUL.
std::string format_job(const Job& job);
// nullopt when the text is not a version-1 job with a 64-hex key.
std::optional<Job> parse_job(std::string_view text);

// A build's outcome, announced on done_channel and kept at result_key().
struct Result {
    std::string key;
    bool ok = false;
    // For failures: the registry error the waiting clients receive.
    ErrorCode code = ErrorCode::unknown;
    std::string message;
    std::string detail;
    // For unknown packages: every one of them.
    std::vector<std::string> unknown;

    bool operator==(const Result&) const = default;
};

Result ok_result(std::string_view key);
// MANIFEST_UNKNOWN naming every unknown package.
Result unknown_packages_result(std::string_view key,
                               std::vector<std::string> packages);
// UNKNOWN (500) with the builder's message as the detail.
Result failure_result(std::string_view key, std::string_view message,
                      std::string_view detail);

// Compact JSON: {"v":1,"key":...,"ok":true} or
// {"v":1,"key":...,"ok":false,"code":"MANIFEST_UNKNOWN","message":...,
//  "detail":...,"unknown":[...]}
// As format_job(): the key must be 64 lowercase hex digits, and strings (a
// build's output: any bytes) are written as lossy_utf8(), so every result
// written reaches the waiters. An ok result is written without the failure
// fields, whatever they hold.
std::string format_result(const Result& result);
// Reads "\u0000" too (JSON_ALLOW_NUL), as earlier helpers wrote it.
std::optional<Result> parse_result(std::string_view text);

// The error body a waiting client receives for a failed result.
std::string result_error_json(const Result& result);

// EVAL script run by the module on an index miss, atomically:
//   KEYS[1] result_key, KEYS[2] inflight_key, KEYS[3] jobs_stream
//   ARGV[1] format_job(), ARGV[2] inflight TTL in seconds,
//   ARGV[3] optional: "drop-result" deletes a stored result instead of
//           returning it (the caller found it stale: the image it announced
//           is no longer in storage); any other value, e.g. "", does not
//   ARGV[4] optional: the queue's maximum length; a new job is refused
//           while the stream holds that many entries (jobs queued or
//           running). Absent or "0": no limit
// Returns a two-element array:
//   {"result", <result>}  a result is still stored: answer from it now
//   {"queued", <id>}      this call enqueued the job (stream entry id)
//   {"waiting", <id>}     a build is already queued or running
//   {"full", <length>}    no job was added: the queue holds <length> jobs,
//                         at least ARGV[4] (a build already queued or
//                         running is still "waiting": the limit refuses
//                         only new jobs)
// The length check and the XADD are one atomic step, so any number of
// workers and hosts together never push the stream past the limit.
// Because a result is written before the in-flight marker is removed (in one
// script, below), a caller that parked its request before this call either
// sees the result here or receives its announcement: nothing is missed.
extern const std::string_view enqueue_script;

// EVAL script run by the helper when a job ends, atomically:
//   KEYS[1] result_key, KEYS[2] inflight_key, KEYS[3] jobs_stream
//   ARGV[1] format_result(), ARGV[2] result TTL in seconds,
//   ARGV[3] done_channel, ARGV[4] helpers_group, ARGV[5] stream entry id
// Stores the result, publishes it, removes the in-flight marker, and
// acknowledges and deletes the stream entry. Returns the number of
// subscribers that received the announcement.
extern const std::string_view complete_script;

} // namespace nixery::queue
