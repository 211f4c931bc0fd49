#include "image/layering.h"

#include "digest.h"
#include "image/popularity.h"

#include <algorithm>
#include <limits>
#include <map>

namespace nixery {

namespace {

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept
{
    std::uint64_t sum = a + b;
    return sum < a ? std::numeric_limits<std::uint64_t>::max() : sum;
}

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) noexcept
{
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    return a * b;
}

// Postorder numbers of the nodes reachable from 0 (iterative DFS, visiting
// successors in list order), and the nodes in reverse postorder.
void depth_first(const std::vector<std::vector<std::size_t>>& succ,
                 std::vector<long>& postorder, std::vector<std::size_t>& rpo)
{
    postorder.assign(succ.size(), -1);
    std::vector<bool> seen(succ.size(), false);
    std::vector<std::pair<std::size_t, std::size_t>> stack;
    std::vector<std::size_t> order;
    if (succ.empty()) {
        rpo.clear();
        return;
    }
    stack.emplace_back(0, 0);
    seen[0] = true;
    while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < succ[node].size()) {
            std::size_t s = succ[node][next++];
            if (!seen[s]) {
                seen[s] = true;
                stack.emplace_back(s, 0);
            }
            continue;
        }
        postorder[node] = static_cast<long>(order.size());
        order.push_back(node);
        stack.pop_back();
    }
    rpo.assign(order.rbegin(), order.rend());
}

} // namespace

std::vector<long>
immediate_dominators(const std::vector<std::vector<std::size_t>>& succ)
{
    std::vector<long> idom(succ.size(), -1);
    if (succ.empty()) {
        return idom;
    }
    std::vector<long> po;
    std::vector<std::size_t> rpo;
    depth_first(succ, po, rpo);
    std::vector<std::vector<std::size_t>> preds(succ.size());
    for (std::size_t v = 0; v < succ.size(); ++v) {
        for (std::size_t s : succ[v]) {
            preds[s].push_back(v);
        }
    }
    auto intersect = [&](long a, long b) {
        while (a != b) {
            while (po[a] < po[b]) {
                a = idom[a];
            }
            while (po[b] < po[a]) {
                b = idom[b];
            }
        }
        return a;
    };
    idom[0] = 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (std::size_t b : rpo) {
            if (b == 0) {
                continue;
            }
            long new_idom = -1;
            for (std::size_t p : preds[b]) {
                if (idom[p] == -1) {
                    continue; // unreachable or not processed yet
                }
                new_idom = new_idom == -1
                               ? static_cast<long>(p)
                               : intersect(static_cast<long>(p), new_idom);
            }
            if (idom[b] != new_idom) {
                idom[b] = new_idom;
                changed = true;
            }
        }
    }
    return idom;
}

namespace {

// The closure as a graph for the dominator tree: node 0 is a synthetic
// root, node i+1 is paths[i] (in path order, without duplicates); the root
// has an edge to each requested, big or popular path.
struct PathGraph {
    std::vector<const StorePath*> paths;
    std::vector<std::uint64_t> pop;             // per node
    std::vector<std::vector<std::size_t>> succ; // per node, sorted
    std::vector<bool> root_edge;                // per node

    void add_root_edge(std::size_t v)
    {
        if (!root_edge[v]) {
            root_edge[v] = true;
            succ[0].push_back(v);
        }
    }
};

// Empty (no paths) when the closure has none.
PathGraph path_graph(const Closure& closure, const Popularity* popularity)
{
    PathGraph g;
    for (const StorePath& p : closure.paths) {
        g.paths.push_back(&p);
    }
    std::sort(g.paths.begin(), g.paths.end(),
              [](auto* a, auto* b) { return a->path < b->path; });
    g.paths.erase(
        std::unique(g.paths.begin(), g.paths.end(),
                    [](auto* a, auto* b) { return a->path == b->path; }),
        g.paths.end());
    if (g.paths.empty()) {
        return g;
    }
    std::map<std::string_view, std::size_t> node_of;
    for (std::size_t i = 0; i < g.paths.size(); ++i) {
        node_of.emplace(g.paths[i]->path, i + 1);
    }
    std::size_t n = g.paths.size() + 1;
    g.pop.assign(n, 0);
    g.succ.resize(n);
    g.root_edge.assign(n, false);
    for (const std::string& root : closure.roots) {
        if (auto it = node_of.find(root); it != node_of.end()) {
            g.add_root_edge(it->second);
        }
    }
    for (std::size_t v = 1; v < n; ++v) {
        const StorePath& p = *g.paths[v - 1];
        g.pop[v] = path_popularity(popularity, p.path);
        if (p.nar_size > big_path_nar_size || g.pop[v] >= popular_path_count) {
            g.add_root_edge(v);
        }
        std::vector<std::size_t>& succ = g.succ[v];
        for (const std::string& ref : p.references) {
            auto it = node_of.find(ref);
            if (it != node_of.end() && it->second != v) {
                succ.push_back(it->second);
            }
        }
        std::sort(succ.begin(), succ.end());
        succ.erase(std::unique(succ.begin(), succ.end()), succ.end());
    }
    return g;
}

// For each node, the child of the root whose dominator subtree holds it.
std::vector<long> dominator_groups(PathGraph& g)
{
    std::size_t n = g.succ.size();
    std::vector<long> idom = immediate_dominators(g.succ);
    // Paths nobody requested and nothing reaches still belong in the image.
    bool unreachable = false;
    for (std::size_t v = 1; v < n; ++v) {
        if (idom[v] == -1) {
            g.add_root_edge(v);
            unreachable = true;
        }
    }
    if (unreachable) {
        idom = immediate_dominators(g.succ);
    }
    std::vector<long> group(n, -1);
    for (std::size_t v = 1; v < n; ++v) {
        std::vector<std::size_t> chain;
        std::size_t u = v;
        while (group[u] == -1 && idom[u] != 0) {
            chain.push_back(u);
            u = static_cast<std::size_t>(idom[u]);
        }
        long gr = group[u] != -1 ? group[u] : static_cast<long>(u);
        group[u] = gr;
        for (std::size_t c : chain) {
            group[c] = gr;
        }
    }
    return group;
}

// One layer per group, rated by its head's popularity times its size;
// sorted by rating, lowest first.
std::vector<Layer> group_into_layers(const PathGraph& g,
                                     const std::vector<long>& group)
{
    std::map<long, Layer> by_group;
    for (std::size_t v = 1; v < group.size(); ++v) {
        Layer& l = by_group[group[v]];
        l.paths.push_back(g.paths[v - 1]->path); // ascending: v is sorted
        l.nar_size = saturating_add(l.nar_size, g.paths[v - 1]->nar_size);
    }
    std::vector<Layer> layers;
    for (auto& [head, l] : by_group) {
        l.rating =
            saturating_mul(g.pop[static_cast<std::size_t>(head)], l.nar_size);
        layers.push_back(std::move(l));
    }
    std::sort(layers.begin(), layers.end(), [](const Layer& a, const Layer& b) {
        if (a.rating != b.rating) {
            return a.rating < b.rating;
        }
        return a.paths.front() < b.paths.front();
    });
    return layers;
}

// Over budget: the lowest-rated layers (at the front) become one.
void fold_to_budget(std::vector<Layer>& layers, std::size_t budget)
{
    if (layers.size() <= budget) {
        return;
    }
    std::size_t fold = layers.size() - budget + 1;
    Layer merged;
    for (std::size_t i = 0; i < fold; ++i) {
        merged.paths.insert(merged.paths.end(), layers[i].paths.begin(),
                            layers[i].paths.end());
        merged.rating = saturating_add(merged.rating, layers[i].rating);
        merged.nar_size = saturating_add(merged.nar_size, layers[i].nar_size);
    }
    std::sort(merged.paths.begin(), merged.paths.end());
    layers.erase(layers.begin(), layers.begin() + static_cast<long>(fold));
    layers.push_back(std::move(merged));
}

} // namespace

std::vector<Layer> group_layers(const Closure& closure,
                                const Popularity* popularity,
                                std::size_t budget)
{
    PathGraph graph = path_graph(closure, popularity);
    if (graph.paths.empty()) {
        return {};
    }
    std::vector<Layer> layers =
        group_into_layers(graph, dominator_groups(graph));
    fold_to_budget(layers, std::max<std::size_t>(budget, 1));
    std::sort(layers.begin(), layers.end(), [](const Layer& a, const Layer& b) {
        if (a.rating != b.rating) {
            return a.rating > b.rating;
        }
        return a.paths.front() < b.paths.front();
    });
    return layers;
}

std::optional<Layering> parse_layering(std::string_view name) noexcept
{
    if (name == "stable") {
        return Layering::stable;
    }
    if (name == "popularity") {
        return Layering::popularity;
    }
    return std::nullopt;
}

std::string_view layering_name(Layering layering) noexcept
{
    return layering == Layering::stable ? "stable" : "popularity";
}

namespace {

// The bucket of a path that has no layer of its own: from a hash of the
// path alone, so that it does not depend on what else is in the image.
std::size_t bucket_of(std::string_view path, std::size_t buckets)
{
    Sha256 h;
    h.update(path);
    std::string hex = h.hex_digest();
    return static_cast<std::size_t>(
        std::stoull(hex.substr(0, 15), nullptr, 16) % buckets);
}

bool by_rating_then_path(const Layer& a, const Layer& b)
{
    if (a.rating != b.rating) {
        return a.rating > b.rating;
    }
    return a.paths.front() < b.paths.front();
}

} // namespace

std::vector<Layer> stable_layers(const Closure& closure,
                                 const Popularity* popularity,
                                 std::size_t budget)
{
    std::vector<const StorePath*> paths;
    for (const StorePath& p : closure.paths) {
        paths.push_back(&p);
    }
    std::sort(paths.begin(), paths.end(),
              [](auto* a, auto* b) { return a->path < b->path; });
    paths.erase(
        std::unique(paths.begin(), paths.end(),
                    [](auto* a, auto* b) { return a->path == b->path; }),
        paths.end());
    std::vector<Layer> single;
    for (const StorePath* p : paths) {
        Layer l;
        l.paths = {p->path};
        l.nar_size = p->nar_size;
        l.rating =
            saturating_mul(path_popularity(popularity, p->path), p->nar_size);
        single.push_back(std::move(l));
    }
    std::sort(single.begin(), single.end(), by_rating_then_path);
    budget = std::max<std::size_t>(budget, 1);
    if (single.size() <= budget) {
        return single;
    }
    // Over the budget: the best-rated paths keep their own layers (they are
    // the ones most worth sharing), the others share hash buckets. A
    // quarter of the budget for buckets keeps each bucket small on big
    // closures while most paths still have a layer of their own.
    std::size_t buckets = std::max<std::size_t>(budget / 4, 1);
    std::size_t own = budget - buckets;
    std::vector<Layer> out(single.begin(),
                           single.begin() + static_cast<long>(own));
    std::vector<Layer> bucket(buckets);
    for (std::size_t i = own; i < single.size(); ++i) {
        Layer& b = bucket[bucket_of(single[i].paths.front(), buckets)];
        b.paths.push_back(single[i].paths.front());
        b.nar_size = saturating_add(b.nar_size, single[i].nar_size);
        b.rating = saturating_add(b.rating, single[i].rating);
    }
    for (Layer& b : bucket) {
        if (!b.paths.empty()) {
            std::sort(b.paths.begin(), b.paths.end());
            out.push_back(std::move(b));
        }
    }
    std::sort(out.begin(), out.end(), by_rating_then_path);
    return out;
}

std::vector<Layer> layer_closure(const Closure& closure,
                                 const Popularity* popularity,
                                 std::size_t budget, Layering layering)
{
    return layering == Layering::stable
               ? stable_layers(closure, popularity, budget)
               : group_layers(closure, popularity, budget);
}

std::string layer_id(const std::vector<std::string>& sorted_paths)
{
    Sha256 h;
    h.update(std::string_view("nixery-layer-v1\0", 16));
    for (const std::string& p : sorted_paths) {
        h.update(p);
        h.update(std::string_view("\0", 1));
    }
    return h.hex_digest();
}

} // namespace nixery
