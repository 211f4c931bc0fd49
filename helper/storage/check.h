// The storage check (nixery-check): is every stored object what its name
// says, and is everything a reference names there?
//
// For operators after a crash, a disk or bucket incident, or a copy of
// the tree, and for the crash tests. Read-only; under the collection lock
// held shared (lock.h), as a build holds it, so that nixery-gc does not
// remove what the check is about to follow. Through the Storage interface
// (storage.h), so it runs on a directory and on a bucket alike. It checks:
//   - every index entry parses, and names two stored manifests of the
//     sizes it records;
//   - every manifest (docker and oci) hashes to its name, parses, and
//     names a config and layers that are stored blobs of the sizes it
//     records;
//   - every layer cache entry parses and names a stored blob of the size
//     it records;
//   - every blob hashes to its name (streamed: Storage::read()).
// The walk goes in the reverse order of publication (index entries read
// first, blobs last), so a build publishing meanwhile (blobs, manifests,
// then the index entry) never shows as a reference to a missing object.
// What is not damage: unreferenced manifests and blobs (what a crashed or
// running build left, collected by nixery-gc) and files under tmp/; they
// are counted.
#pragma once

#include "storage/lock.h"
#include "storage/storage.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nixery {

struct CheckProblem {
    std::string key;      // the damaged or missing object
    std::string why;      // damaged: what is wrong with it
    std::string named_by; // missing: the object that names it
};

struct CheckReport {
    std::uint64_t index = 0, manifests = 0, blobs = 0, layer_entries = 0;
    std::uint64_t bytes = 0; // bytes hashed
    std::uint64_t damaged = 0, missing = 0;
    // The first max_problem_keys of each, in the order found.
    std::vector<CheckProblem> damaged_keys, missing_keys;
    std::uint64_t unreferenced_manifests = 0, unreferenced_blobs = 0;
    std::uint64_t tmp_files = 0; // filesystem only

    static constexpr std::size_t max_problem_keys = 1000;

    bool ok() const { return damaged == 0 && missing == 0; }
    // One line: {"ok":..,"checked":{..},"damaged":N,"missing":N,
    // "damaged_keys":[{"key","why"}],"missing_keys":[{"key","named_by"}],
    // "unreferenced":{..},"tmp_files":N}.
    std::string json() const;
};

// Throws std::runtime_error (StorageError) when the storage cannot be
// listed or locked, or the lock is lost (the result could then name as
// missing what a collection removed). A single object that cannot be read
// is damage, not an exception.
CheckReport check_storage(Storage& storage, CollectionLock& lock);

} // namespace nixery
