// A transparent string hash, so unordered maps keyed by std::string can be
// searched with a std::string_view without building a std::string: the
// per-worker caches are looked up on every request the module serves.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nixery {

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept
    {
        return std::hash<std::string_view>{}(s);
    }
};

template <typename Value>
using StringMap =
    std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

} // namespace nixery
