// nixery-gc: collect what the storage index no longer serves (gc.h).
// docs/operations.md describes the flags (nixery-gc --help lists them).
//
// Safe while nginx serves and helpers build: it holds the storage's
// collection lock, which every image assembly holds shared (the flock on
// gc.lock, or with --gc-lock redis or bucket storage the Redis lock at
// --redis, storage_setup.h). Prints one JSON
// line of counts on stdout; exits 1 with a JSON log line on stderr when it
// fails (nothing is half-deleted: each removal is one unlink), 2 on bad
// usage.
#include "base/log.h"
#include "cmd/flags.h"
#include "cmd/storage_setup.h"
#include "storage/gc.h"

#include <chrono>
#include <ctime>
#include <exception>
#include <iostream>
#include <memory>

namespace {

using namespace nixery;

struct Command {
    GcOptions options;
    cmd::StorageFlags storage;
};

Command parse_flags(int argc, char** argv)
{
    Command c;
    GcOptions& options = c.options;
    c.storage.create = false;
    options.now = static_cast<std::int64_t>(std::time(nullptr));
    auto lock_timeout =
        std::chrono::duration_cast<std::chrono::seconds>(options.lock_timeout);
    cmd::Flags flags(
        "nixery-gc", "--storage DIR [options]",
        "environment: NIXERY_REDIS_PASSWORD (and NIXERY_REDIS_USER) for Redis "
        "AUTH\n");
    flags
        .text("--storage", &c.storage.storage, "DIR",
              "storage root (or NIXERY_STORAGE_BACKEND: a bucket)")
        .toggle("--dry-run", &options.dry_run, "count, delete nothing")
        .number("--keep-expired", &options.keep_expired, 0, "SECONDS",
                "keep index entries this long after they expire\n"
                "(default 604800, a week)")
        .number("--tmp-age", &options.tmp_age, 0, "SECONDS",
                "remove files under tmp/ this old (default 3600)")
        .number("--lock-timeout", &lock_timeout, 0, "SECONDS",
                "wait this long for running assemblies (default 600)")
        .number("--now", &options.now, 0, "UNIX_SECONDS",
                "TEST AID: the time expiry and ages are judged at\n"
                "(default the current time)");
    cmd::add_lock_flags(flags, &c.storage, true);
    flags.parse_or_exit(argc, argv);
    cmd::check_storage_flags(flags, c.storage);
    options.lock_timeout = lock_timeout;
    return c;
}

int run(int argc, char** argv)
{
    Command c = parse_flags(argc, argv);
    const GcOptions& options = c.options;
    cmd::set_redis_auth_from_env();
    std::unique_ptr<Storage> storage = cmd::open_storage(c.storage);
    std::unique_ptr<CollectionLock> lock =
        cmd::open_collection_lock(c.storage, *storage);
    GcStats stats = collect_garbage(*storage, *lock, options);
    std::cout << stats.json() << std::endl;
    log::info(options.dry_run ? "gc dry run" : "gc done",
              {{"storage", storage->describe()},
               {"lock", lock->describe()},
               {"index_removed", stats.index_removed},
               {"manifests_removed", stats.manifests_removed},
               {"blobs_removed", stats.blobs_removed},
               {"bytes_removed", stats.bytes_removed},
               {"unreadable", stats.unreadable}});
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        log::error("gc failed", {{"error", e.what()}});
        return 1;
    }
}
