#include "routes.h"

#include "digest.h"
#include "image_request.h"
#include "json.h"

#include <jansson.h>

namespace nixery {

namespace {

Route invalid(ErrorCode code, std::string detail)
{
    Route r;
    r.kind = RouteKind::invalid;
    r.error = code;
    r.detail = std::move(detail);
    return r;
}

Route invalid_name(std::string_view name)
{
    if (name.size() > max_name_length) {
        return invalid(ErrorCode::name_invalid,
                       "repository name is longer than " +
                           std::to_string(max_name_length) + " bytes");
    }
    return invalid(ErrorCode::name_invalid,
                   "repository name must be lowercase components of "
                   "[a-z0-9] joined by '.', '_', '__' or '-', separated "
                   "by '/'");
}

Route invalid_digest(std::string_view reference)
{
    ParsedDigest d = parse_digest(reference);
    return invalid(ErrorCode::digest_invalid,
                   d.error == DigestError::unsupported_algorithm
                       ? "unsupported digest algorithm: only sha256 is "
                         "served"
                       : "digest must be sha256: followed by 64 lowercase "
                         "hex digits");
}

} // namespace

Route parse_route(std::string_view path)
{
    if (path.substr(0, api_prefix.size()) != api_prefix) {
        return {};
    }
    std::string_view rest = path.substr(api_prefix.size());
    if (rest.empty()) {
        Route r;
        r.kind = RouteKind::base;
        return r;
    }

    // <name>/<segment>/<reference>: the reference follows the last '/',
    // the segment the one before it.
    std::size_t last = rest.rfind('/');
    if (last == std::string_view::npos || last == 0) {
        return {};
    }
    std::size_t before = rest.rfind('/', last - 1);
    if (before == std::string_view::npos) {
        return {};
    }
    std::string_view name = rest.substr(0, before);
    std::string_view segment = rest.substr(before + 1, last - before - 1);
    std::string_view reference = rest.substr(last + 1);
    bool manifests = segment == "manifests";
    bool tags = segment == "tags" && reference == "list";
    if (!manifests && !tags && segment != "blobs") {
        return {};
    }

    if (!valid_name(name)) {
        return invalid_name(name);
    }
    if (tags) {
        Route r;
        r.kind = RouteKind::tags_list;
        r.name = name;
        return r;
    }

    Route r;
    r.name = name;
    bool digest_like = reference.find(':') != std::string_view::npos;
    if (!manifests || digest_like) {
        ParsedDigest d = parse_digest(reference);
        if (d.error != DigestError::none) {
            return invalid_digest(reference);
        }
        r.kind = manifests ? RouteKind::manifest_by_digest : RouteKind::blob;
        r.reference = d.hex;
        return r;
    }
    if (!valid_tag(reference)) {
        return invalid(ErrorCode::tag_invalid,
                       reference.size() > max_tag_length
                           ? "tag is longer than " +
                                 std::to_string(max_tag_length) + " bytes"
                           : "tag must match [A-Za-z0-9_][A-Za-z0-9._-]*");
    }
    r.kind = RouteKind::manifest_by_tag;
    r.reference = reference;
    return r;
}

std::string tags_list_json(std::string_view name)
{
    JsonPtr root(json_pack("{s:s%,s:[s]}", "name", name.data(), name.size(),
                           "tags", "latest"));
    std::string out = json_dump(root.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
    out.push_back('\n');
    return out;
}

} // namespace nixery
