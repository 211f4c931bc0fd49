// The collection lock (storage/lock.h) in Redis, for storage shared by
// hosts that have no file to flock together (buckets). Leases instead of
// locks, so that a process that dies holding one frees it:
//
//   nixery:gc:collector     the collector's flag: SET NX PX <lease>, its
//                           value the collector's id; renewed every
//                           lease/3 while it collects, deleted after.
//   nixery:gc:holder:<id>   one per build holding the lock shared (value
//                           the same id): SET PX <lease>, renewed every
//                           lease/3, deleted when the build is published.
//
// The collector sets its flag, then waits until a SCAN finds no holder key.
// A build waits while the flag exists, sets its holder key, then looks at
// the flag again: when it is there, it deletes its key and waits again.
// Redis runs commands one at a time, so either the holder key was set
// before the collector's SCAN began (the collector sees it and waits) or
// after, and then after the flag, which the holder's second look sees.
// Holders already holding when the flag appears finish first; new ones
// wait for the collection. docs/redis.md lists the keys.
#pragma once

#include "storage/lock.h"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace nixery::queue {

inline constexpr std::string_view gc_collector_key = "nixery:gc:collector";
inline constexpr std::string_view gc_holder_prefix = "nixery:gc:holder:";

struct RedisLockOptions {
    std::string redis; // "host:port" or "unix:/path"
    // How long a key outlives the last renewal of a process that died.
    std::chrono::milliseconds lease{std::chrono::seconds(30)};
    // How often waiting sides look again.
    std::chrono::milliseconds poll{200};
    // Connecting and each command.
    std::chrono::milliseconds redis_timeout{std::chrono::seconds(5)};
};

// Connects on each shared() and exclusive(), each hold on its own
// connection (renewed from its own thread). Throws RedisError (a
// std::runtime_error) when Redis cannot be reached.
std::unique_ptr<CollectionLock> open_redis_lock(RedisLockOptions options);

} // namespace nixery::queue
