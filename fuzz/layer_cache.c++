// Layer cache entries read from storage (layers/<ll>/<id>):
// parse_layer_cache_entry(). Property: what it accepts, the writer writes,
// and that reads back as the same layer.
#include "fuzz.h"

#include "digest.h"
#include "storage/layer_cache.h"

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    auto blob = parse_layer_cache_entry(in);
    if (!blob) {
        return 0;
    }
    require(is_sha256_hex(blob->digest_hex) &&
            is_sha256_hex(blob->diff_id_hex));
    require(blob->size > 0);
    std::string text = format_layer_cache_entry(*blob, 1);
    auto again = parse_layer_cache_entry(text);
    require(again && *again == *blob);
    return 0;
}
