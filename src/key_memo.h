// A per-worker memo of request keys: "<name>:<tag>" -> canonical_key().
//
// Parsing an image name and hashing its canonical encoding is most of the
// module's own work when it serves a cached manifest by tag, and the result
// for a given name and tag never changes. Bounded by forgetting everything
// when full: it is only a memo, a miss just recomputes. Not thread-safe.
#pragma once

#include "string_hash.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nixery {

class KeyMemo {
  public:
    explicit KeyMemo(std::size_t max_entries) : max_(max_entries) {}

    // The remembered key for this name and tag, or nullptr. The pointer
    // lives until the next put().
    const std::string* find(std::string_view name, std::string_view tag) const;
    // Remember a key (nothing when max_entries is 0).
    void put(std::string_view name, std::string_view tag, std::string key);

    std::size_t size() const noexcept { return keys_.size(); }

  private:
    std::size_t max_;
    // Keyed by name + '\0' + tag: neither can hold a NUL.
    StringMap<std::string> keys_;
};

} // namespace nixery
