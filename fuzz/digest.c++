// Digests from URLs and stored records: parse_digest() and is_sha256_hex().
// Properties: a parsed digest is "sha256:" and the 64 lowercase hex digits
// it returns, which make a blob path under blobs/; anything else is refused
// with a reason.
#include "fuzz.h"

#include "digest.h"
#include "storage_layout.h"

#include <string>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    ParsedDigest d = parse_digest(in);
    if (d.error == DigestError::none) {
        require(is_sha256_hex(d.hex));
        require(in == "sha256:" + std::string(d.hex));
        std::string path = blob_path(d.hex);
        require(path == "blobs/sha256/" + std::string(d.hex.substr(0, 2)) +
                            "/" + std::string(d.hex));
    } else {
        require(!(in.starts_with("sha256:") && is_sha256_hex(in.substr(7))));
        if (d.error == DigestError::unsupported_algorithm) {
            require(in.find(':') != std::string_view::npos);
        }
    }
    require(is_sha256_hex(in) ==
            (in.size() == 64 &&
             in.find_first_not_of("0123456789abcdef") == in.npos));
    return 0;
}
