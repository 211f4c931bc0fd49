#include "image/tarball.h"

#include "digest.h"
#include "memory_storage.h"
#include "storage_layout.h"
#include "temp_tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <map>

namespace nixery {
namespace {

using test::TempDir;
using test::write_file;

struct Member {
    unsigned type = 0;
    unsigned mode = 0;
    std::string target;
    std::string data;
    long uid = -1, gid = -1;
    long mtime = -1;
};

// Read a gzip'ed tar blob with libarchive: member names in order + data.
std::vector<std::pair<std::string, Member>> read_layer(const std::string& path)
{
    std::vector<std::pair<std::string, Member>> out;
    archive* a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 65536), ARCHIVE_OK);
    archive_entry* e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        Member m;
        m.type = archive_entry_filetype(e);
        m.mode = archive_entry_perm(e);
        if (archive_entry_symlink(e)) {
            m.target = archive_entry_symlink(e);
        }
        m.uid = archive_entry_uid(e);
        m.gid = archive_entry_gid(e);
        m.mtime = archive_entry_mtime(e);
        char buf[65536];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
            m.data.append(buf, static_cast<std::size_t>(n));
        }
        out.emplace_back(archive_entry_pathname(e), m);
    }
    archive_read_free(a);
    return out;
}

std::string gunzip_file(const std::string& path)
{
    gzFile f = gzopen(path.c_str(), "rb");
    std::string out;
    char buf[65536];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    gzclose(f);
    return out;
}

class Tarball : public ::testing::Test {
  protected:
    void SetUp() override
    {
        std::string p = dir / "store/nix/store/aaa-pkg-1.0";
        write_file(p + "/bin/tool", "#!/bin/sh\necho hi\n", 0555);
        write_file(p + "/bin/su", "setuid", 04555);
        write_file(p + "/share/empty", "", 0444);
        test::mkdirs(p + "/share/emptydir");
        write_file(p + "/lib/\xff\xfe-latin1", "bytes", 0444);
        long_name = std::string(200, 'x') + "/" + std::string(120, 'y');
        write_file(p + "/" + long_name, "long", 0444);
        ::symlink("/etc/passwd", (p + "/etc-passwd").c_str());
        ::symlink(("../" + std::string(150, 'z')).c_str(),
                  (p + "/long-link").c_str());
        ::link((p + "/bin/tool").c_str(), (p + "/bin/tool-hardlink").c_str());
        ::chmod((p + "/share").c_str(), 0555);
    }

    BlobInfo write(const std::string& root)
    {
        auto storage = open_filesystem_storage(root);
        LayerWriter w(*storage);
        w.add_directory("nix", 0755);
        w.add_directory("nix/store", 0755);
        w.add_tree("nix/store/aaa-pkg-1.0",
                   dir / "store/nix/store/aaa-pkg-1.0");
        return w.finish();
    }

    TempDir dir;
    std::string long_name;
};

TEST_F(Tarball, DigestsDescribeTheStoredBytes)
{
    BlobInfo b = write(dir / "storage");
    std::string blob = dir / ("storage/" + blob_path(b.digest_hex));
    std::string gz = test::read_file(blob);
    EXPECT_EQ(gz.size(), b.size);
    EXPECT_EQ(sha256_hex(gz), b.digest_hex);
    EXPECT_EQ(sha256_hex(gunzip_file(blob)), b.diff_id_hex);
    // Nothing left behind in tmp/.
    EXPECT_EQ(::rmdir((dir / "storage/tmp").c_str()), 0);
}

TEST_F(Tarball, EntriesAreNormalisedAndComplete)
{
    BlobInfo b = write(dir / "storage");
    auto members = read_layer(dir / ("storage/" + blob_path(b.digest_hex)));
    std::vector<std::string> names;
    std::map<std::string, Member> by_name;
    for (auto& [n, m] : members) {
        names.push_back(n);
        by_name[n] = m;
        EXPECT_EQ(m.uid, 0) << n;
        EXPECT_EQ(m.gid, 0) << n;
        EXPECT_EQ(m.mtime, layer_mtime) << n;
    }
    const std::string p = "nix/store/aaa-pkg-1.0";
    std::vector<std::string> want = {
        "nix/",
        "nix/store/",
        p + "/",
        p + "/bin/",
        p + "/bin/su",
        p + "/bin/tool",
        p + "/bin/tool-hardlink",
        p + "/etc-passwd",
        p + "/lib/",
        p + "/lib/\xff\xfe-latin1",
        p + "/long-link",
        p + "/share/",
        p + "/share/empty",
        p + "/share/emptydir/",
        p + "/" + std::string(200, 'x') + "/",
        p + "/" + long_name,
    };
    EXPECT_EQ(names, want);
    EXPECT_EQ(by_name[p + "/bin/su"].mode, 04555u);
    EXPECT_EQ(by_name[p + "/share/"].mode, 0555u);
    EXPECT_EQ(by_name[p + "/share/emptydir/"].type, unsigned(AE_IFDIR));
    EXPECT_EQ(by_name[p + "/share/empty"].data, "");
    EXPECT_EQ(by_name[p + "/etc-passwd"].type, unsigned(AE_IFLNK));
    EXPECT_EQ(by_name[p + "/etc-passwd"].target, "/etc/passwd");
    EXPECT_EQ(by_name[p + "/long-link"].target, "../" + std::string(150, 'z'));
    EXPECT_EQ(by_name[p + "/" + long_name].data, "long");
    EXPECT_EQ(by_name[p + "/lib/\xff\xfe-latin1"].data, "bytes");
    // A hard link is stored as the regular file it is (NARs have none).
    EXPECT_EQ(by_name[p + "/bin/tool-hardlink"].type, unsigned(AE_IFREG));
    EXPECT_EQ(by_name[p + "/bin/tool-hardlink"].data, "#!/bin/sh\necho hi\n");
}

TEST_F(Tarball, SameTreeSameBytes)
{
    BlobInfo a = write(dir / "storage-a");
    BlobInfo b = write(dir / "storage-b");
    EXPECT_EQ(a.digest_hex, b.digest_hex);
    EXPECT_EQ(a.diff_id_hex, b.diff_id_hex);
    EXPECT_EQ(a.size, b.size);
}

TEST_F(Tarball, StorePathsThatAreFilesOrSymlinks)
{
    std::string s = dir / "store/nix/store/";
    write_file(s + "bbb-script.sh", "#!/bin/sh\n", 0555);
    ::symlink("/nix/store/aaa-pkg-1.0/bin/tool", (s + "ccc-link").c_str());
    auto storage = open_filesystem_storage(dir / "storage");
    LayerWriter w(*storage);
    w.add_tree("nix/store/bbb-script.sh", s + "bbb-script.sh");
    w.add_tree("nix/store/ccc-link", s + "ccc-link");
    BlobInfo b = w.finish();
    auto members = read_layer(dir / ("storage/" + blob_path(b.digest_hex)));
    ASSERT_EQ(members.size(), 2u);
    EXPECT_EQ(members[0].first, "nix/store/bbb-script.sh");
    EXPECT_EQ(members[0].second.mode, 0555u);
    EXPECT_EQ(members[0].second.data, "#!/bin/sh\n");
    EXPECT_EQ(members[1].second.type, unsigned(AE_IFLNK));
    EXPECT_EQ(members[1].second.target, "/nix/store/aaa-pkg-1.0/bin/tool");
}

TEST_F(Tarball, MissingPathThrowsAndPublishesNothing)
{
    auto storage = open_filesystem_storage(dir / "storage");
    {
        LayerWriter w(*storage);
        EXPECT_THROW(w.add_tree("nix/store/nope", dir / "store/nix/store/nope"),
                     std::system_error);
    }
    EXPECT_NE(::access((dir / "storage/blobs").c_str(), F_OK), 0);
    // The writer's local file went with it.
    EXPECT_EQ(::rmdir((dir / "storage/tmp").c_str()), 0);
}

TEST_F(Tarball, AnyBackendGetsTheSameBlob)
{
    BlobInfo on_disk = write(dir / "storage");
    test::MemoryStorage bucket;
    LayerWriter w(bucket);
    w.add_directory("nix", 0755);
    w.add_directory("nix/store", 0755);
    w.add_tree("nix/store/aaa-pkg-1.0", dir / "store/nix/store/aaa-pkg-1.0");
    BlobInfo b = w.finish();
    EXPECT_EQ(b, on_disk);
    auto objects = bucket.objects();
    ASSERT_EQ(objects.size(), 1u);
    EXPECT_EQ(objects.begin()->first, blob_path(b.digest_hex));
    EXPECT_EQ(objects.begin()->second,
              test::read_file(dir / ("storage/" + blob_path(b.digest_hex))));
    EXPECT_EQ(bucket.local_files(), 0u);
}

} // namespace
} // namespace nixery
