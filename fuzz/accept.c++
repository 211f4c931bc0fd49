// The Accept negotiation: choose_manifest_kind() on header lines (the
// input split at '\n'). Properties: lines are comma lists, so joining them
// with ',' chooses the same; OCI is chosen only when the OCI manifest type
// is named; a plain Docker schema 2 line added makes it Docker.
#include "fuzz.h"

#include "media_types.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    std::vector<std::string_view> lines;
    for (std::size_t at = 0;;) {
        std::size_t nl = in.find('\n', at);
        lines.push_back(in.substr(at, nl - at));
        if (nl == std::string_view::npos) {
            break;
        }
        at = nl + 1;
    }
    ManifestKind kind = choose_manifest_kind(lines);

    std::string joined;
    for (std::string_view l : lines) {
        joined.append(joined.empty() ? "" : ",").append(l);
    }
    require(choose_manifest_kind({joined}) == kind);

    if (kind == ManifestKind::oci) {
        std::string lower(in);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        require(lower.find(manifest_media_type(ManifestKind::oci)) !=
                std::string::npos);
    }
    lines.push_back(manifest_media_type(ManifestKind::docker));
    require(choose_manifest_kind(lines) == ManifestKind::docker);
    return 0;
}
