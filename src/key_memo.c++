#include "key_memo.h"

#include <algorithm>

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
    // Looked up on every manifest request: build the key on the stack when
    // it fits (names are at most 1024 bytes, tags 128).
    char buf[1280];
    std::string long_key;
    std::string_view k;
    if (name.size() + 1 + tag.size() <= sizeof buf) {
        char* p = std::copy(name.begin(), name.end(), buf);
        *p++ = '\0';
        p = std::copy(tag.begin(), tag.end(), p);
        k = std::string_view(buf, static_cast<std::size_t>(p - buf));
    } else {
        long_key = memo_key(name, tag);
        k = long_key;
    }
    auto it = keys_.find(k);
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
