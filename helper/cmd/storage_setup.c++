#include "cmd/storage_setup.h"

#include "queue/redis.h"
#include "queue/redis_lock.h"

#include <cstdlib>
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
    if (target.storage.empty()) {
        flags.fail("--storage is required");
    }
    if (!target.gc_lock.empty() && target.gc_lock != "flock" &&
        target.gc_lock != "redis") {
        flags.fail("--gc-lock: flock or redis, not '" + target.gc_lock + "'");
    }
}

std::unique_ptr<Storage> open_storage(const StorageFlags& flags)
{
    // Buckets: open the backend NIXERY_STORAGE_BACKEND names here.
    struct stat st;
    if (!flags.create &&
        (::stat(flags.storage.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
        throw std::runtime_error("not a directory: " + flags.storage);
    }
    return open_filesystem_storage(flags.storage);
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
