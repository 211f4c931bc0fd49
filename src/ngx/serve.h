// Serving what is in storage: blobs, manifests by digest, and manifests by
// tag through the index (storage_layout.h, docs/storage.md).
//
// Files go through nginx's own file path, as ngx_http_static_module does:
// ngx_open_cached_file (so open_file_cache applies), a file buffer into the
// output filters (so sendfile, the range filter and the not-modified filter
// apply). Every success carries Content-Type, Content-Length,
// Docker-Content-Digest and the API version header.
//
// serve_from_index() is the one place that answers a manifest-by-tag request
// from storage. The handler calls it first; a build-queue waiter calls it
// again for a parked request once the build is published.
#pragma once

#include "ngx/ngx.h"

#include "media_types.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace nixery {

// Serve blobs/sha256/<hh>/<hex> as application/octet-stream, or 404
// BLOB_UNKNOWN. `hex` must be validated (64 lowercase hex digits).
ngx_int_t serve_blob(ngx_http_request_t* r, std::string_view hex) noexcept;

// Serve manifests/<kind>/<hh>/<hex> from whichever kind holds it (a
// manifest, a manifest list or an image index), with that kind's media
// type, or 404 MANIFEST_UNKNOWN. `hex` must be validated.
ngx_int_t serve_manifest_by_digest(ngx_http_request_t* r,
                                   std::string_view hex) noexcept;

// The same, NGX_DECLINED (nothing sent) when no kind holds it.
ngx_int_t serve_stored_manifest(ngx_http_request_t* r,
                                std::string_view hex) noexcept;

// What the request's Accept header lines choose (choose_manifests() in
// media_types.h): the kind to serve for an image with or without lists.
// May throw std::bad_alloc.
ManifestChoice requested_manifests(ngx_http_request_t* r);

// Whether <storage root>/<relative> exists (a stat, no open_file_cache).
bool stored_file_exists(ngx_http_request_t* r, std::string_view relative);

// Serve the manifest that index/<kk>/<key> names for this request, in the
// flavour its Accept header lines choose (media_types.h): for an image
// built for several platforms, its Docker manifest list or OCI index when
// the client takes one, else the default platform's manifest. Returns
// NGX_DECLINED, having sent nothing, when there is no usable entry: none,
// malformed, expired, or naming a manifest that is not stored. Otherwise
// the result of sending the response (possibly an error response).
//
// With `stale`, an entry expired less than the location's
// nixery_stale_max ago is usable too, and *stale says whether the one
// served was expired (the caller then has it rebuilt in the background).
// Such an entry is read from disk on every request, never remembered by
// the worker's index cache, so its replacement is served at once.
ngx_int_t serve_from_index(ngx_http_request_t* r, std::string_view key,
                           bool* stale = nullptr) noexcept;

// Answer GET/HEAD /v2/<name>/referrers/<digest>: nothing refers to
// anything here, so an empty OCI image index (referrers_json() in
// routes.h). An `artifactType` query parameter filters that empty list, and
// the answer says so with `OCI-Filters-Applied: artifactType`, as the
// distribution spec asks.
ngx_int_t serve_referrers(ngx_http_request_t* r) noexcept;

// Whether serve_from_index() would find the image: a usable entry on disk
// (not from the worker's cache) naming a stored manifest of the kind `r`
// asks for. Sends nothing.
bool index_has_image(ngx_http_request_t* r, std::string_view key) noexcept;

} // namespace nixery
