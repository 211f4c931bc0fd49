// nixery-gc: collect what the storage index no longer serves (gc.h).
// docs/operations.md describes the flags (nixery-gc --help lists them).
//
// Safe while nginx serves and helpers build: it holds the storage's
// collector lock, which every image assembly holds shared. Prints one JSON
// line of counts on stdout; exits 1 with a JSON log line on stderr when it
// fails (nothing is half-deleted: each removal is one unlink), 2 on bad
// usage.
#include "base/log.h"
#include "cmd/flags.h"
#include "storage/gc.h"

#include <chrono>
#include <ctime>
#include <exception>
#include <iostream>

namespace {

using namespace nixery;

GcOptions parse_flags(int argc, char** argv)
{
    GcOptions options;
    options.now = static_cast<std::int64_t>(std::time(nullptr));
    auto lock_timeout =
        std::chrono::duration_cast<std::chrono::seconds>(options.lock_timeout);
    cmd::Flags flags("nixery-gc", "--storage DIR [options]");
    flags
        .text("--storage", &options.storage_root, "DIR",
              "storage root (required)")
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
    flags.parse_or_exit(argc, argv);
    if (options.storage_root.empty()) {
        flags.fail("--storage is required");
    }
    options.lock_timeout = lock_timeout;
    return options;
}

int run(int argc, char** argv)
{
    GcOptions options = parse_flags(argc, argv);
    GcStats stats = collect_garbage(options);
    std::cout << stats.json() << std::endl;
    log::info(options.dry_run ? "gc dry run" : "gc done",
              {{"storage", options.storage_root},
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
