#include "index_cache.h"

namespace nixery {

IndexCache::IndexCache(std::size_t max_entries, std::int64_t valid_seconds)
    : max_entries_(max_entries), valid_(valid_seconds)
{
}

const IndexEntry* IndexCache::find(std::string_view key, std::int64_t now)
{
    auto it = map_.find(key);
    if (it == map_.end()) {
        return nullptr;
    }
    Order::iterator node = it->second;
    if (now - node->stored >= valid_ || now < node->stored ||
        node->entry.expired(now)) {
        order_.erase(node);
        map_.erase(it);
        return nullptr;
    }
    order_.splice(order_.begin(), order_, node);
    return &node->entry;
}

void IndexCache::put(std::string_view key, const IndexEntry& entry,
                     std::int64_t now)
{
    if (max_entries_ == 0) {
        return;
    }
    auto it = map_.find(key);
    if (it != map_.end()) {
        Order::iterator node = it->second;
        node->entry = entry;
        node->stored = now;
        order_.splice(order_.begin(), order_, node);
        return;
    }
    if (map_.size() >= max_entries_) {
        map_.erase(order_.back().key);
        order_.pop_back();
    }
    order_.push_front(Node{std::string(key), entry, now});
    try {
        map_.emplace(order_.front().key, order_.begin());
    } catch (...) {
        order_.pop_front();
        throw;
    }
}

void IndexCache::erase(std::string_view key)
{
    auto it = map_.find(key);
    if (it != map_.end()) {
        order_.erase(it->second);
        map_.erase(it);
    }
}

} // namespace nixery
