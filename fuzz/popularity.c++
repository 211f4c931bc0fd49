// Popularity JSON (a file or a URL an operator names): parse_popularity(),
// then the count it gives each name as a store path's. Property: a path
// named "<hash>-<name>" gets its entry's count (but nss-cacert and
// iana-etc, forced), and the version-less name its own entry or 1.
#include "fuzz.h"

#include "image/popularity.h"

#include <stdexcept>
#include <string>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    Popularity pop;
    try {
        pop = parse_popularity(in);
    } catch (const std::runtime_error&) {
        return 0;
    }
    const std::string store = "/nix/store/00000000000000000000000000000000-";
    for (const auto& [name, count] : pop) {
        std::uint64_t got = path_popularity(&pop, store + name);
        std::string_view bare = name_without_version(name);
        require(name.starts_with(bare));
        if (name.starts_with("nss-cacert") || name.starts_with("iana-etc")) {
            continue;
        }
        if (name.find('/') == std::string::npos) {
            require(got == count);
        }
    }
    return 0;
}
