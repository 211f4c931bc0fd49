// nixery-gc: collect what the storage index no longer serves (gc.h).
//
//   nixery-gc --storage DIR [--dry-run] [--keep-expired SECONDS]
//             [--tmp-age SECONDS] [--lock-timeout SECONDS] [--now UNIX]
//
// Safe while nginx serves and helpers build: it holds the storage's
// collector lock, which every image assembly holds shared. Prints one JSON
// line of counts on stdout; exits 1 with a JSON log line on stderr when it
// fails (nothing is half-deleted: each removal is one unlink), 2 on bad
// usage. --now is for tests.
#include "base/log.h"
#include "storage/gc.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <string_view>

namespace {

using namespace nixery;

[[noreturn]] void usage(const char* why)
{
    std::fprintf(stderr,
                 "nixery-gc: %s\n"
                 "usage: nixery-gc --storage DIR [--dry-run]\n"
                 "         [--keep-expired SECONDS] [--tmp-age SECONDS]\n"
                 "         [--lock-timeout SECONDS] [--now UNIX_SECONDS]\n",
                 why);
    std::exit(2);
}

std::int64_t seconds(const char* s, const char* what)
{
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < 0) {
        usage(what);
    }
    return v;
}

int run(int argc, char** argv)
{
    GcOptions options;
    options.now = static_cast<std::int64_t>(std::time(nullptr));
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--dry-run") {
            options.dry_run = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage("missing value after an option");
        }
        const char* v = argv[++i];
        if (a == "--storage") {
            options.storage_root = v;
        } else if (a == "--keep-expired") {
            options.keep_expired = seconds(v, "bad --keep-expired");
        } else if (a == "--tmp-age") {
            options.tmp_age = seconds(v, "bad --tmp-age");
        } else if (a == "--lock-timeout") {
            options.lock_timeout =
                std::chrono::seconds(seconds(v, "bad --lock-timeout"));
        } else if (a == "--now") {
            options.now = seconds(v, "bad --now");
        } else {
            usage("unknown option");
        }
    }
    if (options.storage_root.empty()) {
        usage("--storage is required");
    }
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
