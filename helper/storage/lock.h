// The collection lock: what keeps nixery-gc from deleting what a build is
// about to reference.
//
// Whatever publishes into storage (image assembly) holds it shared from its
// first look at the layer cache to its index entry; nixery-gc holds it
// exclusively while it marks and sweeps. So the collector never deletes a
// blob that a build found in the layer cache and is about to reference,
// and builds never see a half-swept storage. Any number of builds hold it
// shared at once, on any number of hosts.
//
// Two kinds: an flock(2) on `<storage root>/gc.lock` (open_flock_lock(),
// for filesystem storage: hosts sharing the tree need a filesystem with
// working flock, such as NFSv4), and leases in Redis (queue/redis_lock.h,
// for buckets, where no file can be locked). docs/storage.md describes both.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace nixery {

inline constexpr const char* gc_lock_name = "gc.lock";

// A held lock; destroying it releases it.
class LockHold {
  public:
    virtual ~LockHold() = default;
    // Throws std::runtime_error when the lock may no longer be held (a
    // lease could not be renewed in time): whoever holds it stops before
    // doing what the lock guards. An flock is never lost.
    virtual void check() const {}
};

class CollectionLock {
  public:
    virtual ~CollectionLock() = default;

    // "flock /srv/nixery/gc.lock", "redis 127.0.0.1:6379": for logs.
    virtual std::string describe() const = 0;

    // Shared (image assembly): waits while a collection runs.
    virtual std::unique_ptr<LockHold> shared() = 0;

    // Exclusive (the collector): waits up to `timeout` for running builds
    // to finish; throws std::runtime_error when it passes.
    virtual std::unique_ptr<LockHold>
    exclusive(std::chrono::milliseconds timeout) = 0;
};

// The flock(2) lock on <storage_root>/gc.lock (created when missing).
std::unique_ptr<CollectionLock>
open_flock_lock(const std::string& storage_root);

} // namespace nixery
