#include "cmd/storage_setup.h"

#include "queue/redis.h"
#include "queue/redis_lock.h"
#include "storage/config.h"

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <sys/stat.h>

namespace nixery::cmd {

void add_lock_flags(Flags& flags, StorageFlags* target, bool redis_flag)
{
    flags.text("--gc-lock", &target->gc_lock, "KIND",
               "the collection lock: flock (gc.lock in the storage\n"
               "directory; the default for a directory) or redis\n"
               "(leases in Redis, for storage shared by hosts\n"
               "without a common flock; the default for buckets)");
    if (redis_flag) {
        flags.text("--redis", &target->redis, "ADDR",
                   "Redis for the redis lock: host:port or unix:/path\n"
                   "(default 127.0.0.1:6379)");
    }
}

void check_storage_flags(const Flags& flags, const StorageFlags& target)
{
    // A bucket is named by the environment; a directory by --storage or
    // NIXERY_STORAGE_PATH (storage/config.h).
    std::optional<std::string> backend = process_env("NIXERY_STORAGE_BACKEND");
    bool filesystem = !backend || *backend == "filesystem";
    if (filesystem && target.storage.empty() &&
        !process_env("NIXERY_STORAGE_PATH")) {
        flags.fail("--storage is required (or NIXERY_STORAGE_PATH, or "
                   "NIXERY_STORAGE_BACKEND=s3|gcs with its bucket)");
    }
    if (!target.gc_lock.empty() && target.gc_lock != "flock" &&
        target.gc_lock != "redis") {
        flags.fail("--gc-lock: flock or redis, not '" + target.gc_lock + "'");
    }
}

std::unique_ptr<Storage> open_storage(const StorageFlags& flags)
{
    StorageConfig config = storage_config_from_env(
        flags.storage.empty() ? std::nullopt
                              : std::optional<std::string>(flags.storage));
    struct stat st;
    if (config.backend == StorageBackend::filesystem && !flags.create &&
        (::stat(config.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
        throw std::runtime_error("not a directory: " + config.root);
    }
    std::unique_ptr<Storage> storage = nixery::open_storage(config);
    if (config.backend != StorageBackend::filesystem) {
        // Refused credentials or a missing bucket show now, naming the
        // setting to check, rather than as a failed first build.
        storage->get("index/00/nixery-access-check", 64);
    }
    return storage;
}

std::unique_ptr<CollectionLock> open_collection_lock(const StorageFlags& flags,
                                                     const Storage& storage)
{
    std::optional<std::string> root = storage.filesystem_root();
    std::string kind = flags.gc_lock;
    if (kind.empty()) {
        kind = root ? "flock" : "redis";
    }
    if (kind == "flock") {
        if (!root) {
            throw UsageError("--gc-lock flock: " + storage.describe() +
                             " is not a directory; use the redis lock");
        }
        return open_flock_lock(*root);
    }
    if (kind != "redis") {
        throw UsageError("--gc-lock: flock or redis, not '" + kind + "'");
    }
    return queue::open_redis_lock({.redis = flags.redis});
}

void set_redis_auth_from_env()
{
    if (const char* pass = std::getenv("NIXERY_REDIS_PASSWORD");
        pass && *pass) {
        const char* user = std::getenv("NIXERY_REDIS_USER");
        queue::RedisClient::set_auth(user ? user : "", pass);
    }
}

} // namespace nixery::cmd
