// Index entries read from storage (index/<kk>/<key>): parse_index_entry().
// Properties: an entry read is one the writer can write, and what it writes
// reads back as the same entry (format(parse(x)) round trips); a cache of
// it gives back what was put.
#include "fuzz.h"

#include "digest.h"
#include "index_cache.h"
#include "storage_layout.h"

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    auto entry = parse_index_entry(in);
    if (!entry) {
        return 0;
    }
    require(is_sha256_hex(entry->docker_hex) && is_sha256_hex(entry->oci_hex));
    require(entry->expires >= 0);
    std::string text = format_index_entry(*entry);
    auto again = parse_index_entry(text);
    require(again && *again == *entry);
    require(format_index_entry(*again) == text);

    IndexCache cache(2, 60);
    cache.put("k", *entry, 0);
    const IndexEntry* cached = cache.find("k", 1);
    require(entry->expired(1) ? cached == nullptr
                              : cached != nullptr && *cached == *entry);
    return 0;
}
