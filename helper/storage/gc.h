// Storage garbage collection (nixery-gc): mark what the index still serves,
// sweep the rest.
//
// Under the collection lock held exclusively (lock.h), so no build
// publishes meanwhile; through the Storage interface (storage.h), so the
// same collector runs on every backend:
//   1. index entries expired for longer than `keep_expired` are removed
//      (an expired entry is a miss anyway; keeping it a while keeps the
//      layers a rebuild of the same moving source would reuse);
//   2. the remaining entries mark their manifests, and those manifests
//      mark their config and layer blobs;
//   3. unmarked manifests are removed; then layer cache entries whose blob
//      is unmarked (so no build reuses a layer that is about to go); then
//      unmarked blobs;
//   4. on filesystem storage only, files under tmp/ older than `tmp_age`
//      (left by a crashed writer) are removed: other backends publish
//      whole objects and have no tmp/ in storage (what a crash leaves in
//      a host's local_tmp() is that host's).
// Files whose names are not what the layout puts there are never touched.
// An entry or manifest that cannot be read keeps everything it might name:
// the collector only deletes what it has proven unreferenced.
#pragma once

#include "storage/lock.h"
#include "storage/storage.h"

#include <chrono>
#include <cstdint>
#include <string>

namespace nixery {

struct GcOptions {
    std::int64_t now = 0;                      // unix seconds
    std::int64_t keep_expired = 7 * 24 * 3600; // seconds after expiry
    std::int64_t tmp_age = 3600;               // seconds since modified
    bool dry_run = false;                      // count, delete nothing
    std::chrono::milliseconds lock_timeout{std::chrono::minutes(10)};
};

struct GcStats {
    std::uint64_t index_kept = 0, index_removed = 0;
    std::uint64_t manifests_kept = 0, manifests_removed = 0;
    std::uint64_t layer_entries_kept = 0, layer_entries_removed = 0;
    std::uint64_t blobs_kept = 0, blobs_removed = 0;
    std::uint64_t tmp_removed = 0;
    std::uint64_t bytes_removed = 0; // sizes of every file removed
    std::uint64_t unreadable = 0;    // entries/manifests kept unread

    std::string json() const; // one line, for logs and scripts
};

// Throws std::runtime_error (StorageError) when storage cannot be locked or
// listed, or when the lock is lost midway (it then stops removing).
GcStats collect_garbage(Storage& storage, CollectionLock& lock,
                        const GcOptions& options);

} // namespace nixery
