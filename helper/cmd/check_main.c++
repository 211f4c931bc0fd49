// nixery-check: verify a storage (check.h): every object against its
// digest, every reference against what is stored. docs/operations.md
// describes it (nixery-check --help lists the flags).
//
// Read-only and safe while nginx serves and helpers build: it holds the
// collection lock shared, as a build does, so nixery-gc waits for it.
// Prints one JSON summary on stdout; exits 0 when nothing is damaged or
// missing, 1 when something is, 2 on bad usage, 3 when the check could not
// run (storage or lock unreachable; a JSON log line on stderr).
#include "base/log.h"
#include "cmd/flags.h"
#include "cmd/storage_setup.h"
#include "storage/check.h"

#include <exception>
#include <iostream>
#include <memory>

namespace {

using namespace nixery;

cmd::StorageFlags parse_flags(int argc, char** argv)
{
    cmd::StorageFlags storage;
    storage.create = false;
    cmd::Flags flags(
        "nixery-check", "--storage DIR [options]",
        "exit status: 0 intact, 1 damaged or missing objects, 2 usage, 3 the\n"
        "check could not run\n"
        "environment: NIXERY_REDIS_PASSWORD (and NIXERY_REDIS_USER) for Redis "
        "AUTH\n");
    flags.text("--storage", &storage.storage, "DIR",
               "storage root (or NIXERY_STORAGE_BACKEND: a bucket)");
    cmd::add_lock_flags(flags, &storage, true);
    flags.parse_or_exit(argc, argv);
    cmd::check_storage_flags(flags, storage);
    return storage;
}

int run(const cmd::StorageFlags& flags)
{
    cmd::set_redis_auth_from_env();
    std::unique_ptr<Storage> storage = cmd::open_storage(flags);
    std::unique_ptr<CollectionLock> lock =
        cmd::open_collection_lock(flags, *storage);
    CheckReport report = check_storage(*storage, *lock);
    std::cout << report.json() << std::endl;
    if (!report.ok()) {
        log::error("storage damaged", {{"storage", storage->describe()},
                                       {"damaged", report.damaged},
                                       {"missing", report.missing}});
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    cmd::StorageFlags flags = parse_flags(argc, argv);
    try {
        return run(flags);
    } catch (const std::exception& e) {
        log::error("check failed", {{"error", e.what()}});
        return 3;
    }
}
