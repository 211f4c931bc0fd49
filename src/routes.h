// Routes of the registry's pull API: which resource a request path names.
//
// The module hands the request path (the raw request target without its query
// string, see docs/directives.md) to parse_route(), which says whether it is
// the API version check, a manifest by tag, a manifest by digest, a blob, the
// referrers of a digest, a path the registry does not serve, a route with an
// invalid name or digest (400), or one that names what cannot exist here
// (404: a reference that is no tag, a sha512 digest). Only routes whose parts
// passed validation come back as servable, so the file paths built from them
// (hex digests and request keys, see storage_layout.h) can never leave the
// storage root. Which tags exist is a question of the package source:
// TagPolicy below. No nginx headers: the unit tests link this directly.
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
    tags_list,          // /v2/<name>/tags/list
    referrers,          // /v2/<name>/referrers/<sha256 or sha512 digest>
    unknown,            // anything else: 404
    invalid,            // a route with a bad name or digest: `error` (400)
    absent,             // a valid route naming nothing: `error` (404)
};

struct Route {
    RouteKind kind = RouteKind::unknown;
    // Views into the parsed path; set for the manifest and blob routes.
    std::string_view name;
    // The tag, or the 64 lowercase hex digits of a digest.
    std::string_view reference;
    // For RouteKind::invalid and absent: the error and a short explanation.
    ErrorCode error = ErrorCode::unknown;
    std::string detail;
};

// The prefix of every registry path.
inline constexpr std::string_view api_prefix = "/v2/";

// Parse a request path (no query string). The name is everything between
// "/v2/" and the last "/manifests/" or "/blobs/" segment, as in the
// distribution spec's grammar, so "/v2/a/blobs/b/manifests/latest" names the
// repository "a/blobs/b". Names must satisfy valid_name() and digests
// parse_digest(); nothing is decoded or normalised here. A manifest
// reference with a ':' is a digest (malformed: 400 DIGEST_INVALID), else a
// tag; one that is not valid_tag() names no manifest: 404 MANIFEST_UNKNOWN
// with the reason, as the reference implementation (CNCF distribution)
// answers. A well-formed sha512 digest is a 404 too (nothing is stored
// under one); on the referrers route it is served like a sha256 one.
Route parse_route(std::string_view path);

// Which tags exist, set per location by `nixery_tags` (docs/directives.md)
// to match the helpers' package source (docs/package-set.md):
//   latest: a channel or a path has one version of the package set, so
//           `latest` is the only tag; the module answers any other 404
//           itself, before the index, Redis or a helper see it.
//   git:    `latest` (the default branch), branches, git tags and commits;
//           the helper checks that the repository has the ref.
enum class TagPolicy { latest, git };

// Whether the module may look `tag` (valid_tag()) up or build it under
// `policy`; false means 404 with unserved_tag_detail().
bool tag_may_exist(TagPolicy policy, std::string_view tag) noexcept;

// The `detail` of that 404: which tags this registry serves.
std::string unserved_tag_detail(TagPolicy policy, std::string_view tag);

// The body of /v2/<name>/tags/list and its pages: tag_list.h.

// The referrers API's answer for any digest: nothing here refers to
// anything (the registry stores no signatures or other artifacts), so an
// empty OCI image index, application/vnd.oci.image.index.v1+json.
// Its media type is media::oci_index (media_types.h).
std::string_view referrers_json() noexcept;

// Whether a query string (without '?') has the parameter `name`, with or
// without a value: "artifactType=x&n=1" has "artifactType".
bool query_has_param(std::string_view args, std::string_view name) noexcept;

} // namespace nixery
