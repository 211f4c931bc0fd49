// How the programs open storage and the collection lock from their flags:
// the one place where a storage backend is chosen (open_storage()), shared
// by nixery-helper, nixery-assemble and nixery-gc.
//
// The lock (storage/lock.h) is the flock on <storage>/gc.lock for filesystem
// storage and the Redis lock (queue/redis_lock.h) for any other;
// `--gc-lock redis` takes the Redis lock on a filesystem too (every helper,
// assembler and collector of one storage must then use it).
#pragma once

#include "cmd/flags.h"
#include "storage/lock.h"
#include "storage/storage.h"

#include <memory>
#include <string>

namespace nixery::cmd {

struct StorageFlags {
    std::string storage;                  // --storage DIR (or the environment)
    std::string redis = "127.0.0.1:6379"; // --redis ADDR, for the Redis lock
    std::string gc_lock;                  // --gc-lock: "", "flock", "redis"
    bool create = true; // false: a missing --storage directory is an error
};

// Declares --gc-lock KIND and, when `redis_flag`, --redis ADDR (nixery-helper
// declares its own --redis and copies it into `target->redis`).
void add_lock_flags(Flags& flags, StorageFlags* target, bool redis_flag);
// After parsing: --storage given, --gc-lock flock or redis; else
// flags.fail() (usage, exit 2).
void check_storage_flags(const Flags& flags, const StorageFlags& target);

// The storage the flags and the environment name (storage/config.h):
// the directory tree at --storage (or NIXERY_STORAGE_PATH), or the bucket
// NIXERY_STORAGE_BACKEND=s3|gcs and its variables name. The one place a
// program opens storage. Throws std::runtime_error (StorageError).
std::unique_ptr<Storage> open_storage(const StorageFlags& flags);

// The collection lock for `storage`: flock for a filesystem unless
// --gc-lock says redis; Redis for the others (--gc-lock flock is refused
// for them: no file guards a bucket). Throws UsageError for a bad
// --gc-lock. Call set_redis_auth_from_env() first.
std::unique_ptr<CollectionLock> open_collection_lock(const StorageFlags& flags,
                                                     const Storage& storage);

// Redis credentials come from the environment, not the command line (which
// every local user can read): NIXERY_REDIS_PASSWORD, and with Redis 6
// ACLs NIXERY_REDIS_USER. Once at startup, before any thread connects.
void set_redis_auth_from_env();

} // namespace nixery::cmd
