// A per-worker memory of recently read index entries.
//
// Serving a manifest by tag reads index/<kk>/<key> before the manifest;
// without a cache that is an extra open/read/close per request, which costs
// the module about a third of nginx's static-file rate. Entries change
// rarely: a request key's entry is written once and replaced only after it
// expires (moving package sources). So an entry read from disk is reused
// for at most `valid` seconds and never past its own expiry; a reader that
// finds the manifest it names missing erases it and reads the disk again.
// Misses are never cached, so a freshly published entry is seen at once.
// Bounded: the least recently used entry goes when `max_entries` is
// reached. Not thread-safe: one per nginx worker.
#pragma once

#include "storage_layout.h"
#include "string_hash.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nixery {

class IndexCache {
  public:
    IndexCache(std::size_t max_entries, std::int64_t valid_seconds);

    // The cached entry for `key` when it was stored less than `valid`
    // seconds before `now` and has not expired; nullptr otherwise (and a
    // stale entry is dropped). The pointer lives until the next call.
    const IndexEntry* find(std::string_view key, std::int64_t now);
    void put(std::string_view key, const IndexEntry& entry, std::int64_t now);
    void erase(std::string_view key);

    std::size_t size() const noexcept { return map_.size(); }

  private:
    struct Node {
        std::string key;
        IndexEntry entry;
        std::int64_t stored = 0;
    };
    using Order = std::list<Node>;

    std::size_t max_entries_;
    std::int64_t valid_;
    Order order_; // most recently used first
    StringMap<Order::iterator> map_;
};

} // namespace nixery
