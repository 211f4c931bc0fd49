#include "key_memo.h"

namespace nixery {

namespace {

std::string memo_key(std::string_view name, std::string_view tag)
{
    std::string k;
    k.reserve(name.size() + 1 + tag.size());
    k.append(name);
    k.push_back('\0');
    k.append(tag);
    return k;
}

} // namespace

const std::string* KeyMemo::find(std::string_view name,
                                 std::string_view tag) const
{
    if (keys_.empty()) {
        return nullptr;
    }
    auto it = keys_.find(memo_key(name, tag));
    return it == keys_.end() ? nullptr : &it->second;
}

void KeyMemo::put(std::string_view name, std::string_view tag, std::string key)
{
    if (max_ == 0) {
        return;
    }
    if (keys_.size() >= max_) {
        keys_.clear();
    }
    keys_.insert_or_assign(memo_key(name, tag), std::move(key));
}

} // namespace nixery
