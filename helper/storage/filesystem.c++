// The filesystem backend: a directory tree that nginx serves from directly.
// Publishing is AtomicFile's: write under <root>/tmp, fsync, rename.
#include "storage/storage.h"

#include "storage/key.h"

#include "atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace nixery {

namespace {

std::string errno_text(int err)
{
    return std::error_code(err, std::generic_category()).message();
}

// fsync a file (setting its mode when `mode` is not 0) or a directory.
bool sync_path(const std::string& path, int flags, mode_t mode)
{
    int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool ok = (mode == 0 || ::fchmod(fd, mode) == 0) && ::fsync(fd) == 0;
    int saved = errno;
    ::close(fd);
    errno = saved;
    return ok;
}

class FilesystemStorage final : public Storage {
  public:
    explicit FilesystemStorage(std::string root)
        : root_(std::move(root)), tmp_(root_ + "/" + std::string(tmp_dir_))
    {
        make_directories(tmp_);
    }

    std::string describe() const override { return "filesystem " + root_; }

    const std::string& local_tmp() const override { return tmp_; }

    void put(std::string_view key, std::string_view bytes) override
    {
        check_storage_key(key);
        publish_file(root_, key, bytes);
    }

    void put_file(std::string_view key, const std::string& path) override
    {
        struct Unlink {
            const std::string& p;
            ~Unlink() { ::unlink(p.c_str()); }
        } unlink_on_failure{path};
        check_storage_key(key);
        std::string final_path = path_of(key);
        std::string dir = final_path.substr(0, final_path.find_last_of('/'));
        make_directories(dir);
        // As AtomicFile::commit: the bytes are on disk before the name is.
        if (!sync_path(path, O_RDONLY, 0644) ||
            ::rename(path.c_str(), final_path.c_str()) != 0 ||
            !sync_path(dir, O_RDONLY | O_DIRECTORY, 0)) {
            throw StorageError("storage: cannot publish " + std::string(key) +
                               ": " + errno_text(errno));
        }
    }

    std::optional<std::string> get(std::string_view key,
                                   std::size_t max) override
    {
        check_storage_key(key);
        std::string path = path_of(key);
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                return std::nullopt;
            }
            throw StorageError("storage: cannot read " + std::string(key) +
                               ": " + errno_text(errno));
        }
        std::optional<std::string> text = read_small_file(path, max);
        if (!text) {
            throw StorageError("storage: cannot read " + std::string(key) +
                               (static_cast<std::uint64_t>(st.st_size) > max
                                    ? ": larger than expected"
                                    : ": read failed"));
        }
        return text;
    }

    bool read(std::string_view key,
              const std::function<void(std::string_view)>& each) override
    {
        check_storage_key(key);
        int fd = ::open(path_of(key).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                return false;
            }
            throw StorageError("storage: cannot read " + std::string(key) +
                               ": " + errno_text(errno));
        }
        std::unique_ptr<int, void (*)(int*)> closer(
            &fd, [](int* f) { ::close(*f); });
        std::string buffer(1 << 20, '\0');
        for (;;) {
            ssize_t n = ::read(fd, buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                throw StorageError("storage: cannot read " + std::string(key) +
                                   ": " + errno_text(errno));
            }
            if (n == 0) {
                return true;
            }
            each(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        }
    }

    std::optional<std::uint64_t> size(std::string_view key) override
    {
        check_storage_key(key);
        struct stat st;
        if (::stat(path_of(key).c_str(), &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                return std::nullopt;
            }
            throw StorageError("storage: cannot stat " + std::string(key) +
                               ": " + errno_text(errno));
        }
        return static_cast<std::uint64_t>(st.st_size);
    }

    void list(std::string_view prefix,
              const std::function<void(const StoredObject&)>& each) override
    {
        check_storage_prefix(prefix);
        walk(std::string(prefix.substr(0, prefix.size() - 1)), each);
    }

    void remove(std::string_view key) override
    {
        check_storage_key(key);
        if (::unlink(path_of(key).c_str()) != 0 && errno != ENOENT &&
            errno != ENOTDIR) {
            throw StorageError("storage: cannot remove " + std::string(key) +
                               ": " + errno_text(errno));
        }
    }

    std::optional<std::string> filesystem_root() const override
    {
        return root_;
    }

  private:
    static constexpr std::string_view tmp_dir_ = "tmp";

    std::string path_of(std::string_view key) const
    {
        return root_ + "/" + std::string(key);
    }

    // Depth-first over the directory `rel` (relative to the root).
    void walk(const std::string& rel,
              const std::function<void(const StoredObject&)>& each)
    {
        std::string dir_path = path_of(rel);
        DIR* dir = ::opendir(dir_path.c_str());
        if (dir == nullptr) {
            if (errno == ENOENT || errno == ENOTDIR) {
                return;
            }
            throw StorageError("storage: cannot list " + rel + ": " +
                               errno_text(errno));
        }
        std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, &::closedir);
        while (const dirent* e = ::readdir(dir)) {
            std::string_view name = e->d_name;
            if (name == "." || name == "..") {
                continue;
            }
            std::string child = rel + "/" + std::string(name);
            struct stat st;
            if (::lstat(path_of(child).c_str(), &st) != 0) {
                continue; // removed while we walk
            }
            if (S_ISDIR(st.st_mode)) {
                walk(child, each);
            } else if (S_ISREG(st.st_mode)) {
                each({child, static_cast<std::uint64_t>(st.st_size),
                      static_cast<std::int64_t>(st.st_mtime)});
            }
        }
    }

    std::string root_;
    std::string tmp_;
};

} // namespace

std::unique_ptr<Storage> open_filesystem_storage(const std::string& root)
{
    if (root.empty()) {
        throw StorageError("storage: no storage root given");
    }
    return std::make_unique<FilesystemStorage>(root);
}

} // namespace nixery
