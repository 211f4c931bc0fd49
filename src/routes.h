// Routes of the registry's pull API: which resource a request path names.
//
// The module hands the request path (the raw request target without its query
// string, see docs/directives.md) to parse_route(), which says whether it is
// the API version check, a manifest by tag, a manifest by digest, a blob, a
// path the registry does not serve, or a well-formed route with an invalid
// name, tag or digest. Only routes whose parts passed validation come back as
// servable, so the file paths built from them (hex digests and request keys,
// see storage_layout.h) can never leave the storage root. No nginx headers:
// the unit tests link this directly.
#pragma once

#include "errors.h"

#include <string>
#include <string_view>

namespace nixery {

enum class RouteKind {
    base,               // /v2/
    manifest_by_tag,    // /v2/<name>/manifests/<tag>
    manifest_by_digest, // /v2/<name>/manifests/sha256:<hex>
    blob,               // /v2/<name>/blobs/sha256:<hex>
    unknown,            // anything else: 404
    invalid,            // a route with a bad name, tag or digest: `error`
};

struct Route {
    RouteKind kind = RouteKind::unknown;
    // Views into the parsed path; set for the manifest and blob routes.
    std::string_view name;
    // The tag, or the 64 lowercase hex digits of a digest.
    std::string_view reference;
    // For RouteKind::invalid: the error and a short explanation.
    ErrorCode error = ErrorCode::unknown;
    std::string detail;
};

// The prefix of every registry path.
inline constexpr std::string_view api_prefix = "/v2/";

// Parse a request path (no query string). The name is everything between
// "/v2/" and the last "/manifests/" or "/blobs/" segment, as in the
// distribution spec's grammar, so "/v2/a/blobs/b/manifests/latest" names the
// repository "a/blobs/b". Names must satisfy valid_name(), tags valid_tag()
// and digests parse_digest(); nothing is decoded or normalised here.
Route parse_route(std::string_view path);

} // namespace nixery
