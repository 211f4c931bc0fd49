// `nix path-info --json -r` output and nixery-assemble's closure input:
// parse_closure_json(), then the layering of what it read (the closure's
// store paths and references come from Nix). Properties: paths sorted and
// unique, roots sorted and unique, references sorted and absolute; every
// path lands in exactly one layer, within the layer budget.
#include "fuzz.h"

#include "image/layering.h"
#include "nix/closure_json.h"
#include "nix/store.h"

#include <algorithm>
#include <set>
#include <stdexcept>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    if (size == 0) {
        return 0;
    }
    std::size_t budget = data[0] % 8;
    std::string_view in = fuzz::bytes(data + 1, size - 1);
    Closure c;
    try {
        c = parse_closure_json(in);
    } catch (const std::runtime_error&) {
        return 0;
    }
    auto by_path = [](const StorePath& a, const StorePath& b) {
        return a.path < b.path;
    };
    require(std::is_sorted(c.paths.begin(), c.paths.end(), by_path));
    require(std::adjacent_find(c.paths.begin(), c.paths.end(),
                               [](auto& a, auto& b) {
                                   return a.path == b.path;
                               }) == c.paths.end());
    require(std::is_sorted(c.roots.begin(), c.roots.end()));
    require(std::adjacent_find(c.roots.begin(), c.roots.end()) ==
            c.roots.end());
    for (const StorePath& p : c.paths) {
        require(std::is_sorted(p.references.begin(), p.references.end()));
        for (const std::string& r : p.references) {
            require(r.starts_with("/"));
        }
    }
    try {
        std::vector<StorePath> again = parse_path_info(in);
        require(!again.empty() && again.size() == c.paths.size());
    } catch (const std::runtime_error&) {
        require(c.paths.empty());
    }

    std::vector<Layer> layers = group_layers(c, nullptr, budget);
    require(layers.size() <= std::max<std::size_t>(budget, 1));
    std::multiset<std::string> seen;
    for (const Layer& l : layers) {
        require(!l.paths.empty());
        require(std::is_sorted(l.paths.begin(), l.paths.end()));
        seen.insert(l.paths.begin(), l.paths.end());
        require(layer_id(l.paths).size() == 64);
    }
    std::multiset<std::string> all;
    for (const StorePath& p : c.paths) {
        all.insert(p.path);
    }
    require(seen == all);
    return 0;
}
