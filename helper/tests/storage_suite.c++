#include "storage_suite.h"

#include <fstream>
#include <set>
#include <sys/stat.h>

namespace nixery::test {

std::string StorageSuite::local_file(const std::string& name,
                                     const std::string& bytes)
{
    std::string path = storage->local_tmp() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

namespace {

const std::string blob_key =
    "blobs/sha256/ab/"
    "abababababababababababababababababababababababababababababababab";

TEST_P(StorageSuite, PutThenGetGivesTheBytes)
{
    std::string bytes("index\0entry\xff\n", 13);
    storage->put("index/0f/0f00", bytes);
    EXPECT_EQ(storage->get("index/0f/0f00", 64), bytes);
    EXPECT_EQ(storage->size("index/0f/0f00"), 13u);
}

TEST_P(StorageSuite, MissingKeysAreAbsentNotErrors)
{
    EXPECT_EQ(storage->get("index/00/nothing", 64), std::nullopt);
    EXPECT_EQ(storage->size(blob_key), std::nullopt);
    EXPECT_NO_THROW(storage->remove("index/00/nothing"));
}

TEST_P(StorageSuite, PutReplacesWhole)
{
    storage->put("index/aa/k", std::string(1000, 'a'));
    storage->put("index/aa/k", "short");
    EXPECT_EQ(storage->get("index/aa/k", 2000), "short");
}

TEST_P(StorageSuite, GetRefusesAnObjectLargerThanMax)
{
    storage->put("manifests/oci/12/1234", std::string(100, 'm'));
    EXPECT_THROW(storage->get("manifests/oci/12/1234", 99), StorageError);
    EXPECT_EQ(storage->get("manifests/oci/12/1234", 100)->size(), 100u);
}

TEST_P(StorageSuite, PutFilePublishesAndConsumesTheLocalFile)
{
    std::string bytes(3 << 20, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<char>(i * 7919 >> 3);
    }
    std::string path = local_file("layer.tmp", bytes);
    storage->put_file(blob_key, path);
    struct stat st;
    EXPECT_NE(::stat(path.c_str(), &st), 0) << "the local file is gone";
    EXPECT_EQ(storage->size(blob_key), bytes.size());
    EXPECT_EQ(storage->get(blob_key, bytes.size()), bytes);
}

TEST_P(StorageSuite, PutFileOfAnEmptyFile)
{
    storage->put_file("blobs/sha256/00/empty", local_file("empty.tmp", ""));
    EXPECT_EQ(storage->size("blobs/sha256/00/empty"), 0u);
    EXPECT_EQ(storage->get("blobs/sha256/00/empty", 0), "");
}

TEST_P(StorageSuite, ListGivesEveryKeyUnderThePrefixOnly)
{
    storage->put("layers/01/a", "1");
    storage->put("layers/02/b", "22");
    storage->put("layers/02/c", "333");
    storage->put("layersx/03/d", "not under layers/");
    storage->put("index/01/e", "not under layers/");
    std::set<std::pair<std::string, std::uint64_t>> seen;
    storage->list("layers/", [&](const StoredObject& o) {
        seen.emplace(o.key, o.size);
        EXPECT_GT(o.mtime, 1'600'000'000) << o.key;
    });
    std::set<std::pair<std::string, std::uint64_t>> want = {
        {"layers/01/a", 1}, {"layers/02/b", 2}, {"layers/02/c", 3}};
    EXPECT_EQ(seen, want);
}

TEST_P(StorageSuite, ListOfAnEmptyPrefix)
{
    int n = 0;
    storage->list("manifests/", [&](const StoredObject&) { ++n; });
    EXPECT_EQ(n, 0);
}

TEST_P(StorageSuite, RemoveRemoves)
{
    storage->put("layers/09/x", "x");
    storage->remove("layers/09/x");
    EXPECT_EQ(storage->get("layers/09/x", 8), std::nullopt);
    int n = 0;
    storage->list("layers/", [&](const StoredObject&) { ++n; });
    EXPECT_EQ(n, 0);
}

TEST_P(StorageSuite, KeysOutsideTheLayoutAreRefused)
{
    for (const char* bad : {"", "/etc/passwd", "../x", "index/../../x",
                            "index//x", "index/./x", "index/x/"}) {
        EXPECT_THROW(storage->put(bad, "x"), StorageError) << bad;
        EXPECT_THROW(storage->get(bad, 8), StorageError) << bad;
    }
}

TEST_P(StorageSuite, DescribeNamesTheBackend)
{
    EXPECT_FALSE(storage->describe().empty());
}

} // namespace

} // namespace nixery::test
