// Layer cache entries (storage/layer_cache.h): what is written reads back,
// and anything else is refused rather than trusted.
#include "storage/layer_cache.h"

#include <gtest/gtest.h>

using namespace nixery;

namespace {

const std::string a(64, 'a');
const std::string b(64, 'b');

std::string entry(const std::string& fields)
{
    return "{\"version\":1," + fields + "}";
}

} // namespace

TEST(LayerCacheEntry, RoundTrip)
{
    BlobInfo blob{a, b, 12345};
    std::string text = format_layer_cache_entry(blob, 7);
    EXPECT_EQ(text, "{\"version\":1,\"digest\":\"sha256:" + a +
                        "\",\"diff_id\":\"sha256:" + b +
                        "\",\"size\":12345,\"paths\":7}\n");
    std::optional<BlobInfo> back = parse_layer_cache_entry(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, blob);
}

TEST(LayerCacheEntry, BigSizeRoundTrips)
{
    BlobInfo blob{a, b, 1ull << 40};
    EXPECT_EQ(parse_layer_cache_entry(format_layer_cache_entry(blob, 1)), blob);
}

TEST(LayerCacheEntry, MalformedIsRefused)
{
    const std::string digest = "\"digest\":\"sha256:" + a + "\"";
    const std::string diff_id = "\"diff_id\":\"sha256:" + b + "\"";
    // The well-formed baseline, so that each refusal below is due to the
    // one thing changed.
    ASSERT_TRUE(
        parse_layer_cache_entry(entry(digest + "," + diff_id + ",\"size\":1")));
    const std::vector<std::string> bad{
        "",
        "not json",
        "[]",
        "{}",
        "{\"version\":1", // truncated
        "{\"version\":2," + digest + "," + diff_id + ",\"size\":1}",
        "{\"version\":\"1\"," + digest + "," + diff_id + ",\"size\":1}",
        "{" + digest + "," + diff_id + ",\"size\":1}", // no version
        entry(diff_id + ",\"size\":1"),                // no digest
        entry(digest + ",\"size\":1"),                 // no diff_id
        entry(digest + "," + diff_id),                 // no size
        entry(digest + "," + diff_id + ",\"size\":0"),
        entry(digest + "," + diff_id + ",\"size\":-5"),
        entry(digest + "," + diff_id + ",\"size\":1.5"),
        entry(digest + "," + diff_id + ",\"size\":\"1\""),
        entry("\"digest\":\"" + a + "\"," + diff_id + ",\"size\":1"),
        entry("\"digest\":\"sha512:" + a + "\"," + diff_id + ",\"size\":1"),
        entry("\"digest\":\"sha256:" + a.substr(1) + "\"," + diff_id +
              ",\"size\":1"),
        entry("\"digest\":\"sha256:" + std::string(64, 'A') + "\"," + diff_id +
              ",\"size\":1"),
        entry("\"digest\":\"sha256:../" + a.substr(3) + "\"," + diff_id +
              ",\"size\":1"),
        entry(digest + ",\"diff_id\":7,\"size\":1"),
        // Over the 4 KiB an entry may take.
        entry(digest + "," + diff_id + ",\"size\":1,\"pad\":\"" +
              std::string(5000, 'x') + "\""),
    };
    for (const std::string& text : bad) {
        EXPECT_FALSE(parse_layer_cache_entry(text)) << text;
    }
}
