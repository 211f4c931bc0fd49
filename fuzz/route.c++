// The request target and route parser: parse_route() on any path, the
// tags list body for the names it accepts, and the canonical key of the
// image a manifest-by-tag route names (what serve_manifest_by_tag() does).
#include "fuzz.h"

#include "digest.h"
#include "image_request.h"
#include "json.h"
#include "routes.h"
#include "tag_list.h"

#include <jansson.h>

using namespace nixery;

namespace {

bool inside(std::string_view part, std::string_view whole)
{
    return part.empty() ||
           (part.data() >= whole.data() &&
            part.data() + part.size() <= whole.data() + whole.size());
}

} // namespace

NIXERY_FUZZ_TARGET
{
    std::string_view path = fuzz::bytes(data, size);
    Route r = parse_route(path);
    require(inside(r.name, path) && inside(r.reference, path));
    switch (r.kind) {
    case RouteKind::base:
        require(path == api_prefix);
        break;
    case RouteKind::manifest_by_tag: {
        require(valid_name(r.name) && valid_tag(r.reference));
        ParseResult p = parse_image_request(r.name, r.reference);
        if (p.error == NameError::none) {
            require(is_sha256_hex(canonical_key(p.request)));
        } else {
            // Only the package count can refuse a name valid_name() took.
            require(p.error == NameError::name_invalid);
        }
        break;
    }
    case RouteKind::manifest_by_digest:
    case RouteKind::blob:
        require(valid_name(r.name) && is_sha256_hex(r.reference));
        require(path.ends_with("sha256:" + std::string(r.reference)));
        break;
    case RouteKind::tags_list: {
        require(valid_name(r.name));
        std::string body = tags_list_json(r.name, {"latest"});
        JsonPtr j(json_loadb(body.data(), body.size(), 0, nullptr));
        require(j != nullptr);
        json_t* name = json_object_get(j.get(), "name");
        require(json_is_string(name) &&
                std::string_view(json_string_value(name)) == r.name);
        break;
    }
    case RouteKind::referrers:
        // A sha256 or sha512 digest, whose hex is the reference.
        require(valid_name(r.name) && !r.reference.empty());
        require(path.ends_with(r.reference));
        break;
    case RouteKind::absent:
        // A valid route naming nothing: 404 with the reason.
        require(!r.detail.empty());
        require(r.error == ErrorCode::manifest_unknown ||
                r.error == ErrorCode::blob_unknown);
        break;
    case RouteKind::invalid:
        require(!r.detail.empty());
        require(r.error == ErrorCode::name_invalid ||
                r.error == ErrorCode::tag_invalid ||
                r.error == ErrorCode::digest_invalid);
        break;
    case RouteKind::unknown:
        break;
    }
    return 0;
}
