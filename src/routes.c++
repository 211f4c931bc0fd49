#include "routes.h"

#include "digest.h"
#include "image_request.h"

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

Route invalid_digest(const ParsedDigest& d)
{
    return invalid(ErrorCode::digest_invalid,
                   d.error == DigestError::unsupported_algorithm
                       ? "unsupported digest algorithm: the registered ones "
                         "are sha256 and sha512"
                       : "digest must be sha256: followed by 64 lowercase "
                         "hex digits (or sha512: and 128)");
}

Route absent(ErrorCode code, std::string detail)
{
    Route r = invalid(code, std::move(detail));
    r.kind = RouteKind::absent;
    return r;
}

// Why a reference that is no tag names no manifest.
std::string not_a_tag(std::string_view reference)
{
    if (reference.size() > max_tag_length) {
        return "the reference is neither a digest nor a tag: a tag is at "
               "most " +
               std::to_string(max_tag_length) + " bytes";
    }
    return "the reference is neither a digest nor a tag: a tag matches "
           "[A-Za-z0-9_][A-Za-z0-9._-]*";
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
    bool referrers = segment == "referrers";
    if (!manifests && !tags && !referrers && segment != "blobs") {
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
        if (referrers && (d.error == DigestError::none ||
                          d.error == DigestError::other_registered)) {
            r.kind = RouteKind::referrers;
            r.reference = reference;
            return r;
        }
        if (d.error == DigestError::other_registered) {
            return absent(manifests ? ErrorCode::manifest_unknown
                                    : ErrorCode::blob_unknown,
                          "nothing is stored under a sha512 digest: this "
                          "registry addresses content by sha256");
        }
        if (d.error != DigestError::none) {
            return invalid_digest(d);
        }
        r.kind = manifests ? RouteKind::manifest_by_digest : RouteKind::blob;
        r.reference = d.hex;
        return r;
    }
    if (!valid_tag(reference)) {
        return absent(ErrorCode::manifest_unknown, not_a_tag(reference));
    }
    r.kind = RouteKind::manifest_by_tag;
    r.reference = reference;
    return r;
}

bool tag_may_exist(TagPolicy policy, std::string_view tag) noexcept
{
    return policy == TagPolicy::git || tag == "latest";
}

std::string unserved_tag_detail(TagPolicy policy, std::string_view tag)
{
    std::string t(tag);
    if (policy == TagPolicy::git) {
        return "tag '" + t +
               "' is no branch, git tag or commit of the package "
               "repository: this registry serves 'latest' (the default "
               "branch), the repository's branches and git tags, and "
               "commits by their 40 hex digits";
    }
    return "tag '" + t +
           "' does not exist: this registry serves the tag 'latest' only "
           "(its package set has one version)";
}

std::string_view referrers_json() noexcept
{
    return "{\"schemaVersion\":2,\"mediaType\":\"application/"
           "vnd.oci.image.index.v1+json\",\"manifests\":[]}\n";
}

bool query_has_param(std::string_view args, std::string_view name) noexcept
{
    while (!args.empty()) {
        std::size_t amp = args.find('&');
        std::string_view pair = args.substr(0, amp);
        std::string_view key = pair.substr(0, pair.find('='));
        if (key == name) {
            return true;
        }
        if (amp == std::string_view::npos) {
            break;
        }
        args.remove_prefix(amp + 1);
    }
    return false;
}

} // namespace nixery
