#include "image/popcount.h"

#include "image/popularity.h"
#include "json.h"

#include <jansson.h>

#include <stdexcept>

namespace nixery {

std::map<std::string, std::uint64_t>
popularity_counts(const std::vector<StorePath>& paths)
{
    std::map<std::string, std::uint64_t> counts;
    for (const StorePath& p : paths) {
        for (const std::string& ref : p.references) {
            std::string_view name = store_path_name(ref);
            if (!name.empty()) {
                ++counts[std::string(name)];
            }
        }
    }
    std::erase_if(counts, [](const auto& kv) { return kv.second <= 1; });
    return counts;
}

std::string popularity_json(const std::map<std::string, std::uint64_t>& c)
{
    std::string out = "{";
    bool first = true;
    for (const auto& [name, count] : c) {
        JsonPtr s(json_stringn(name.data(), name.size()));
        if (!s) {
            throw std::runtime_error("cannot encode " + name);
        }
        out += first ? "\n  " : ",\n  ";
        out += json_dump(s.get(), JSON_ENCODE_ANY);
        out += ": " + std::to_string(count);
        first = false;
    }
    out += first ? "}\n" : "\n}\n";
    return out;
}

} // namespace nixery
