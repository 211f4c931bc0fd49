// The build board: what the registry is building, shown on the build page.
//
// Helpers write a record per build in flight (its image name as asked, its
// phase: resolving, building layer k of n, publishing) into one Redis hash,
// and a record per failed build into a short list; nginx workers count the
// clients waiting on each image into a small hash per image. The module's
// `nixery_builds` location reads all of it with one script (read_script)
// and renders it as JSON (render_board_json()) for the page in www/.
// Both sides use the key names, record formats and redaction here, so the
// page stays safe to expose: failure messages lose every host path (Nix's
// `/nix/store/...` names stay: they are public in every image) and every
// credential the writer knows of. docs/redis.md lists the keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery::board {

// Hash: field = canonical key, value = a build record (format_build()).
inline constexpr std::string_view builds_hash = "nixery:builds";
// List, newest first: failure records (format_failure()), at most
// failures_kept of them.
inline constexpr std::string_view failures_list = "nixery:failures";
inline constexpr std::size_t failures_kept = 20;
// Hash per image: field = nginx worker ("<host>-<pid>"), value = "<count>
// <expires_ms>"; the whole hash expires waiters_ttl_ms after its last
// write, a dead worker's field once its own expiry passes.
std::string waiters_key(std::string_view key);
inline constexpr std::int64_t waiters_ttl_ms = 30000;
// How often a worker rewrites its counts (well within waiters_ttl_ms).
inline constexpr std::int64_t waiters_refresh_ms = 10000;
std::string waiters_value(std::int64_t count, std::int64_t expires_ms);

// A failure's detail on the board is at most this many bytes (the start
// and the end of Nix's message, which say what failed and its last log
// lines).
inline constexpr std::size_t detail_max = 2000;

struct Build {
    std::string key;  // canonical key
    std::string name; // image name as the client asked it
    std::string tag;
    std::string helper;
    std::string phase;       // "resolving", "building", "publishing"
    std::int64_t layer = 0;  // building: the layer being built, from 1
    std::int64_t layers = 0; // building: how many layers this build makes
    std::int64_t enqueued_ms = 0;
    std::int64_t started_ms = 0;
    // The record is stale after this (its helper stopped refreshing it).
    std::int64_t expires_ms = 0;
};

std::string format_build(const Build& build);
std::optional<Build> parse_build(std::string_view text);

struct Failure {
    std::string key;
    std::string name;
    std::string tag;
    std::string code; // the registry error code, e.g. "UNKNOWN"
    std::string message;
    std::string detail; // Nix's message, redacted and trimmed
    std::int64_t finished_ms = 0;
    std::int64_t duration_ms = 0;
};

// Writes message and detail through redact() with `secrets` and detail
// through trim_middle(detail_max).
std::string format_failure(const Failure& failure,
                           const std::vector<std::string>& secrets = {});
std::optional<Failure> parse_failure(std::string_view text);

// `text` without host paths and credentials: every occurrence of a secret
// (at least 4 bytes; shorter ones would eat ordinary words) becomes
// "[redacted]", a URL's user and password become "[redacted]", and every
// absolute path that does not start with /nix/store/ becomes "[path]"
// (where a path starts a word: after the start, a space, a quote or a
// bracket, so URLs keep their paths and "a/b" stays).
std::string redact(std::string_view text,
                   const std::vector<std::string>& secrets = {});

// At most `max` bytes of `text`: its start and its end around a
// "\n[...]\n" marker, cut between UTF-8 sequences.
std::string trim_middle(std::string_view text, std::size_t max);

// The read script. KEYS: builds_hash, the jobs stream, failures_list;
// ARGV: the helpers' consumer group, the number of failures to return,
// the waiters key prefix. Returns {now_ms, jobs, pending, oldest job id,
// oldest job record, {build record, waiting count, ...}, {failure
// record, ...}} and deletes build records past their expiry.
extern const std::string_view read_script;
// waiters_key() without the image key: the script's third argument.
inline constexpr std::string_view waiters_prefix = "nixery:waiters:";

// What the read script returned, as the module hands it over.
struct Snapshot {
    std::int64_t now_ms = 0;
    std::int64_t jobs = 0;    // XLEN of the jobs stream: queued or building
    std::int64_t pending = 0; // delivered to a helper (building)
    std::string oldest_id;    // stream id of the oldest job ("" if none)
    std::string oldest_job;   // its job record
    struct Entry {
        std::string record;
        std::int64_t waiting = 0;
    };
    std::vector<Entry> builds;
    std::vector<std::string> failures;
};

// The JSON document the build page reads:
//
//     {"now_ms":..,
//      "builds":[{"image":"shell/git:latest","name":..,"tag":..,
//                 "phase":"building","layer":2,"layers":5,
//                 "status":"building layer 2 of 5","started_ms":..,
//                 "elapsed_s":..,"waiting":3}],
//      "queue":{"jobs":..,"building":..,"queued":..,
//               "oldest":{"image":..,"enqueued_ms":..,"age_s":..}|null},
//      "failures":[{"image":..,"name":..,"tag":..,"code":..,"message":..,
//                   "detail":..,"finished_ms":..,"duration_s":..}]}
//
// Records that cannot be read are left out; messages go through redact()
// again, so even a record written by another writer shows no host path.
// Builds are listed oldest first.
std::string render_board_json(const Snapshot& snapshot);

} // namespace nixery::board
