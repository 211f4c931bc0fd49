// The storage behaviour suite on the filesystem backend, plus what only a
// directory tree has: files where nginx reads them, publication by rename.
#include "storage_suite.h"
#include "temp_tree.h"

#include <fstream>
#include <sys/stat.h>

namespace nixery::test {
namespace {

class OwningStorage final : public Storage {
  public:
    OwningStorage(std::shared_ptr<TempDir> dir)
        : dir_(std::move(dir)), inner_(open_filesystem_storage(dir_->path()))
    {
    }
    std::string describe() const override { return inner_->describe(); }
    const std::string& local_tmp() const override
    {
        return inner_->local_tmp();
    }
    void put(std::string_view k, std::string_view b) override
    {
        inner_->put(k, b);
    }
    void put_file(std::string_view k, const std::string& p) override
    {
        inner_->put_file(k, p);
    }
    std::optional<std::string> get(std::string_view k, std::size_t m) override
    {
        return inner_->get(k, m);
    }
    std::optional<std::uint64_t> size(std::string_view k) override
    {
        return inner_->size(k);
    }
    void list(std::string_view p,
              const std::function<void(const StoredObject&)>& f) override
    {
        inner_->list(p, f);
    }
    void remove(std::string_view k) override { inner_->remove(k); }
    std::optional<std::string> filesystem_root() const override
    {
        return inner_->filesystem_root();
    }

  private:
    std::shared_ptr<TempDir> dir_;
    std::unique_ptr<Storage> inner_;
};

INSTANTIATE_TEST_SUITE_P(Filesystem, StorageSuite,
                         ::testing::Values(StorageBackend{
                             "filesystem",
                             [] {
                                 return std::make_unique<OwningStorage>(
                                     std::make_shared<TempDir>());
                             }}),
                         [](const auto& info) { return info.param.name; });

TEST(FilesystemStorage, ObjectsAreFilesUnderTheRootWorldReadable)
{
    TempDir dir;
    auto s = open_filesystem_storage(dir.path());
    s->put("index/ab/abcd", "entry");
    std::string layer = s->local_tmp() + "/l";
    std::ofstream(layer) << "layer";
    ::chmod(layer.c_str(), 0600);
    s->put_file("blobs/sha256/cd/cdef", layer);
    for (const char* rel : {"/index/ab/abcd", "/blobs/sha256/cd/cdef"}) {
        struct stat st;
        ASSERT_EQ(::stat((dir.path() + rel).c_str(), &st), 0) << rel;
        EXPECT_EQ(st.st_mode & 0777, 0644u) << rel;
    }
    EXPECT_EQ(s->local_tmp(), dir.path() + "/tmp");
    EXPECT_EQ(s->describe(), "filesystem " + dir.path());
    EXPECT_EQ(s->filesystem_root(), dir.path());
}

} // namespace
} // namespace nixery::test
