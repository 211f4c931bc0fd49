#include "nix/closure_json.h"
#include "json.h"

#include <jansson.h>

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>

namespace nixery {

namespace {

[[noreturn]] void bad(const std::string& why)
{
    throw std::runtime_error("closure JSON: " + why);
}

std::string string_of(json_t* j, const char* what)
{
    if (!json_is_string(j)) {
        bad(std::string(what) + " is not a string");
    }
    return std::string(json_string_value(j), json_string_length(j));
}

std::vector<std::string> strings_of(json_t* j, const char* what)
{
    std::vector<std::string> out;
    if (j == nullptr) {
        return out;
    }
    if (!json_is_array(j)) {
        bad(std::string(what) + " is not an array");
    }
    std::size_t i;
    json_t* v;
    json_array_foreach(j, i, v)
    {
        out.push_back(string_of(v, what));
    }
    return out;
}

StorePath path_of(std::string path, json_t* info)
{
    if (!json_is_object(info)) {
        bad("entry of " + path + " is not an object");
    }
    StorePath p;
    p.path = std::move(path);
    // `nix path-info` marks paths missing from the store as not valid.
    if (json_is_false(json_object_get(info, "valid"))) {
        bad(p.path + " is not valid (not in the store)");
    }
    json_t* nar = json_object_get(info, "narSize");
    if (!json_is_integer(nar) || json_integer_value(nar) < 0) {
        bad("narSize of " + p.path + " is missing or negative");
    }
    p.nar_size = static_cast<std::uint64_t>(json_integer_value(nar));
    for (std::string& r :
         strings_of(json_object_get(info, "references"), "reference")) {
        if (!r.starts_with("/")) {
            r = "/nix/store/" + r;
        }
        p.references.push_back(std::move(r));
    }
    std::sort(p.references.begin(), p.references.end());
    return p;
}

void read_paths(json_t* j, Closure& c)
{
    if (json_is_array(j)) {
        std::size_t i;
        json_t* v;
        json_array_foreach(j, i, v)
        {
            c.paths.push_back(
                path_of(string_of(json_object_get(v, "path"), "path"), v));
        }
    } else if (json_is_object(j)) {
        const char* key;
        json_t* v;
        json_object_foreach(j, key, v)
        {
            c.paths.push_back(path_of(key, v));
        }
    } else {
        bad("paths are neither an array nor an object");
    }
}

} // namespace

Closure parse_closure_json(std::string_view text)
{
    json_error_t err;
    JsonPtr root(json_loadb(text.data(), text.size(), 0, &err));
    if (!root) {
        bad(err.text);
    }
    Closure c;
    json_t* paths = json_object_get(root.get(), "paths");
    if (json_is_object(root.get()) && paths != nullptr) {
        read_paths(paths, c);
        c.roots = strings_of(json_object_get(root.get(), "roots"), "root");
        c.attributes =
            strings_of(json_object_get(root.get(), "attributes"), "attribute");
    } else {
        read_paths(root.get(), c);
    }
    std::sort(c.paths.begin(), c.paths.end(),
              [](auto& a, auto& b) { return a.path < b.path; });
    c.paths.erase(
        std::unique(c.paths.begin(), c.paths.end(),
                    [](auto& a, auto& b) { return a.path == b.path; }),
        c.paths.end());
    if (c.roots.empty()) {
        std::set<std::string_view> referenced;
        for (const StorePath& p : c.paths) {
            for (const std::string& r : p.references) {
                if (r != p.path) {
                    referenced.insert(r);
                }
            }
        }
        for (const StorePath& p : c.paths) {
            if (!referenced.contains(p.path)) {
                c.roots.push_back(p.path);
            }
        }
    }
    std::sort(c.roots.begin(), c.roots.end());
    c.roots.erase(std::unique(c.roots.begin(), c.roots.end()), c.roots.end());
    return c;
}

} // namespace nixery
