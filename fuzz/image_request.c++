// Image name -> request -> canonical key. Input: "<name>\n<tag>" (no
// newline: the tag is "latest"). Properties: the packages are sorted,
// unique and hold cacert and iana-etc; the key is 64 hex digits and does not
// depend on the order of the packages or on a repeated one; the packages'
// JSON (the build job's) lists exactly the packages.
#include "fuzz.h"

#include "digest.h"
#include "image_request.h"
#include "json.h"

#include <jansson.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    std::size_t nl = in.find('\n');
    std::string_view name = in.substr(0, nl);
    std::string_view tag =
        nl == std::string_view::npos ? "latest" : in.substr(nl + 1);

    ParseResult p = parse_image_request(name, tag);
    if (p.error != NameError::none) {
        require(!p.message.empty());
        require(p.request == ImageRequest{});
        return 0;
    }
    require(valid_name(name) && valid_tag(tag));
    const ImageRequest& req = p.request;
    require(req.name == name && req.tag == tag);
    require(std::is_sorted(req.packages.begin(), req.packages.end()));
    require(std::adjacent_find(req.packages.begin(), req.packages.end()) ==
            req.packages.end());
    require(
        std::binary_search(req.packages.begin(), req.packages.end(), "cacert"));
    require(std::binary_search(req.packages.begin(), req.packages.end(),
                               "iana-etc"));
    require(req.packages.size() <= max_packages);

    std::string key = canonical_key(req);
    require(is_sha256_hex(key));
    require(key == sha256_hex(canonical_encoding(req)));

    // The same packages in reverse order, the first one repeated, behind
    // the same leading meta-packages: the same image.
    std::vector<std::string_view> parts;
    for (std::size_t at = 0;;) {
        std::size_t slash = name.find('/', at);
        parts.push_back(name.substr(at, slash - at));
        if (slash == std::string_view::npos) {
            break;
        }
        at = slash + 1;
    }
    std::size_t meta = 0;
    while (meta < parts.size() &&
           (parts[meta] == "shell" || parts[meta] == "arm64")) {
        ++meta;
    }
    // A later "shell" or "arm64" is a package; moved to the front it would
    // be a meta-package, another image.
    bool movable =
        std::none_of(parts.begin() + meta, parts.end(), [](std::string_view p) {
            return p == "shell" || p == "arm64";
        });
    std::reverse(parts.begin() + meta, parts.end());
    if (meta < parts.size()) {
        parts.push_back(parts[meta]);
    }
    std::string other;
    for (std::string_view part : parts) {
        other.append(other.empty() ? "" : "/").append(part);
    }
    if (movable && other.size() <= max_name_length) {
        ParseResult q = parse_image_request(other, tag);
        require(q.error == NameError::none);
        require(q.request.packages == req.packages);
        require(q.request.arch == req.arch && q.request.shell == req.shell);
        require(canonical_key(q.request) == key);
    }

    std::string js = packages_json(req);
    JsonPtr arr(json_loadb(js.data(), js.size(), 0, nullptr));
    require(json_is_array(arr.get()) &&
            json_array_size(arr.get()) == req.packages.size());
    for (std::size_t i = 0; i < req.packages.size(); ++i) {
        json_t* s = json_array_get(arr.get(), i);
        require(json_is_string(s) &&
                std::string_view(json_string_value(s), json_string_length(s)) ==
                    req.packages[i]);
    }
    return 0;
}
