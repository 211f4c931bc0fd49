// The storage's collector lock: `<storage>/gc.lock`, an flock(2) lock.
//
// Whatever publishes into storage (image assembly) holds it shared from its
// first look at the layer cache to its index entry; nixery-gc holds it
// exclusively while it marks and sweeps. So the collector never deletes a
// blob that a build found in the layer cache and is about to reference,
// and builds never see a half-swept storage. Several helpers (processes,
// or hosts on a filesystem with working flock, such as NFSv4) build at once.
#pragma once

#include <chrono>
#include <string>

namespace nixery {

inline constexpr const char* gc_lock_name = "gc.lock";

class StorageLock {
  public:
    // Shared: blocks while a collection runs.
    static StorageLock shared(const std::string& storage_root);
    // Exclusive: waits up to `timeout` for running builds to finish;
    // throws std::runtime_error when it passes.
    static StorageLock exclusive(const std::string& storage_root,
                                 std::chrono::milliseconds timeout);

    StorageLock(StorageLock&& other) noexcept;
    StorageLock& operator=(StorageLock&&) = delete;
    StorageLock(const StorageLock&) = delete;
    ~StorageLock();

  private:
    explicit StorageLock(int fd) noexcept : fd_(fd) {}
    static int open_lock_file(const std::string& storage_root);
    int fd_;
};

} // namespace nixery
