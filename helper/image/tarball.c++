#include "image/tarball.h"

#include "atomic_file.h"
#include "base/log.h"
#include "digest.h"
#include "image/gzip.h"
#include "storage_layout.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

namespace nixery {

namespace {

// File data is read in chunks of this size, one buffer per thread.
constexpr std::size_t read_chunk = 1 << 20;
constexpr std::uint64_t writeback_chunk = 8 << 20;

[[noreturn]] void throw_errno(const std::string& what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

struct EntryDeleter {
    void operator()(archive_entry* e) const noexcept { archive_entry_free(e); }
};
using Entry = std::unique_ptr<archive_entry, EntryDeleter>;

// The layer's bytes on their way into storage: a file of its own under
// Storage::local_tmp(), removed unless handed to put_file().
class LocalFile {
  public:
    explicit LocalFile(const std::string& dir)
    {
        make_directories(dir); // an operator may have removed it
        std::string templ = dir + "/layer.XXXXXX";
        fd_ = ::mkostemp(templ.data(), O_CLOEXEC);
        if (fd_ < 0) {
            throw_errno("mkstemp in " + dir);
        }
        path_ = std::move(templ);
    }
    ~LocalFile()
    {
        close();
        if (!path_.empty()) {
            ::unlink(path_.c_str());
        }
    }
    LocalFile(const LocalFile&) = delete;
    LocalFile& operator=(const LocalFile&) = delete;

    int fd() const noexcept { return fd_; }

    void write(const void* data, std::size_t size)
    {
        const char* p = static_cast<const char*>(data);
        while (size > 0) {
            ssize_t n = ::write(fd_, p, size);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                throw_errno("write " + path_);
            }
            p += n;
            size -= static_cast<std::size_t>(n);
        }
    }

    // Closed, and no longer this object's to remove: put_file() removes
    // it, and its name may be another writer's once it is gone.
    std::string hand_over()
    {
        close();
        return std::exchange(path_, {});
    }

  private:
    void close() noexcept
    {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    std::string path_;
    int fd_ = -1;
};

} // namespace

struct LayerWriter::State {
    Storage& storage;
    LocalFile file;
    Sha256 tar_hash;
    Sha256 gz_hash;
    std::uint64_t gz_size = 0;
    std::uint64_t written_back = 0;
    GzipEncoder gzip;
    archive* ar = nullptr;
    std::exception_ptr error; // thrown inside a libarchive callback
    bool finished = false;

    State(Storage& s, CompressionPool* pool)
        : storage(s), file(s.local_tmp()),
          gzip(
              [this](const std::uint8_t* p, std::size_t n) {
                  gz_hash.update(p, n);
                  file.write(p, n);
                  gz_size += n;
                  start_writeback();
              },
              pool)
    {
    }

    ~State()
    {
        if (ar != nullptr) {
            archive_write_free(ar);
        }
    }

    // Start writing finished parts of the blob to disk while compression
    // goes on, so that the fsync before publication has little left to do.
    void start_writeback()
    {
        if (gz_size - written_back >= writeback_chunk) {
            ::sync_file_range(file.fd(), static_cast<off_t>(written_back),
                              static_cast<off_t>(gz_size - written_back),
                              SYNC_FILE_RANGE_WRITE);
            written_back = gz_size;
        }
    }

    static la_ssize_t on_write(archive*, void* self, const void* buf,
                               size_t size) noexcept
    {
        auto* s = static_cast<State*>(self);
        try {
            // Straight on: the encoder gathers its own 1 MiB blocks, and
            // libarchive hands over at least 10 KiB at a time.
            s->tar_hash.update(buf, size);
            s->gzip.write(buf, size);
            return static_cast<la_ssize_t>(size);
        } catch (...) {
            s->error = std::current_exception();
            return -1;
        }
    }

    [[noreturn]] void fail(const std::string& what)
    {
        if (error) {
            std::rethrow_exception(error);
        }
        const char* msg = archive_error_string(ar);
        throw std::runtime_error("tar: " + what + ": " +
                                 (msg != nullptr ? msg : "libarchive error"));
    }

    Entry new_entry(std::string_view name, unsigned type, unsigned mode)
    {
        Entry e(archive_entry_new());
        if (!e) {
            throw std::bad_alloc();
        }
        std::string n(name);
        archive_entry_copy_pathname(e.get(), n.c_str());
        archive_entry_set_filetype(e.get(), type);
        archive_entry_set_perm(e.get(), mode & 07777);
        archive_entry_set_uid(e.get(), 0);
        archive_entry_set_gid(e.get(), 0);
        archive_entry_copy_uname(e.get(), "root");
        archive_entry_copy_gname(e.get(), "root");
        archive_entry_set_mtime(e.get(), layer_mtime, 0);
        return e;
    }

    void write_header(archive_entry* e, std::string_view name)
    {
        int rc = archive_write_header(ar, e);
        if (rc == ARCHIVE_WARN) {
            log::warn(
                "tar: entry written with a warning",
                {{"entry", name},
                 {"reason",
                  archive_error_string(ar) ? archive_error_string(ar) : ""}});
        } else if (rc != ARCHIVE_OK) {
            fail("header of " + std::string(name));
        }
    }
};

LayerWriter::LayerWriter(Storage& storage, CompressionPool* pool)
    : state_(std::make_unique<State>(storage, pool))
{
    State& s = *state_;
    s.ar = archive_write_new();
    if (s.ar == nullptr) {
        throw std::bad_alloc();
    }
    if (archive_write_set_format_pax_restricted(s.ar) != ARCHIVE_OK ||
        archive_write_add_filter_none(s.ar) != ARCHIVE_OK ||
        archive_write_open(s.ar, &s, nullptr, &State::on_write, nullptr) !=
            ARCHIVE_OK) {
        s.fail("cannot open the tar stream");
    }
}

LayerWriter::~LayerWriter() = default;

void LayerWriter::add_directory(std::string_view name, unsigned mode)
{
    Entry e = state_->new_entry(name, AE_IFDIR, mode);
    state_->write_header(e.get(), name);
}

void LayerWriter::add_symlink(std::string_view name, std::string_view target)
{
    Entry e = state_->new_entry(name, AE_IFLNK, 0777);
    std::string t(target);
    archive_entry_copy_symlink(e.get(), t.c_str());
    state_->write_header(e.get(), name);
}

void LayerWriter::add_contents(std::string_view name, unsigned mode,
                               std::string_view contents)
{
    State& s = *state_;
    Entry e = s.new_entry(name, AE_IFREG, mode);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(contents.size()));
    s.write_header(e.get(), name);
    if (!contents.empty() &&
        archive_write_data(s.ar, contents.data(), contents.size()) !=
            static_cast<la_ssize_t>(contents.size())) {
        s.fail("data of " + std::string(name));
    }
}

void LayerWriter::add_file(std::string_view name, unsigned mode,
                           const std::string& disk_path)
{
    State& s = *state_;
    int fd = ::open(disk_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        throw_errno("open " + disk_path);
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        throw_errno("stat " + disk_path);
    }
    if (!S_ISREG(st.st_mode)) {
        throw std::runtime_error("tar: not a regular file: " + disk_path);
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    Entry e = s.new_entry(name, AE_IFREG, mode);
    archive_entry_set_size(e.get(), st.st_size);
    s.write_header(e.get(), name);
    // One buffer per thread for all its layers, rather than one per layer.
    thread_local std::unique_ptr<char[]> read_buf(new char[read_chunk]);
    auto left = static_cast<std::uint64_t>(st.st_size);
    while (left > 0) {
        ssize_t n = ::read(fd, read_buf.get(),
                           std::min<std::uint64_t>(left, read_chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw_errno("read " + disk_path);
        }
        if (n == 0) {
            throw std::runtime_error("tar: file shrank while read: " +
                                     disk_path);
        }
        if (archive_write_data(s.ar, read_buf.get(),
                               static_cast<std::size_t>(n)) != n) {
            s.fail("data of " + disk_path);
        }
        left -= static_cast<std::uint64_t>(n);
    }
}

void LayerWriter::add_tree(std::string_view name, const std::string& disk_path)
{
    struct stat st;
    if (::lstat(disk_path.c_str(), &st) != 0) {
        throw_errno("lstat " + disk_path);
    }
    unsigned mode = st.st_mode & 07777;
    if (S_ISREG(st.st_mode)) {
        add_file(name, mode, disk_path);
    } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlink(disk_path.c_str(), target.data(), target.size());
        if (n < 0) {
            throw_errno("readlink " + disk_path);
        }
        target.resize(static_cast<std::size_t>(n));
        add_symlink(name, target);
    } else if (S_ISDIR(st.st_mode)) {
        add_directory(name, mode);
        std::vector<std::string> children;
        DIR* dir = ::opendir(disk_path.c_str());
        if (dir == nullptr) {
            throw_errno("opendir " + disk_path);
        }
        errno = 0;
        while (dirent* d = ::readdir(dir)) {
            std::string_view n = d->d_name;
            if (n != "." && n != "..") {
                children.emplace_back(n);
            }
        }
        int saved = errno;
        ::closedir(dir);
        if (saved != 0) {
            errno = saved;
            throw_errno("readdir " + disk_path);
        }
        // std::string orders bytes as unsigned char: a byte-wise order.
        std::sort(children.begin(), children.end());
        for (const std::string& c : children) {
            add_tree(std::string(name) + "/" + c, disk_path + "/" + c);
        }
    } else {
        log::warn("tar: skipping a special file", {{"path", disk_path}});
    }
}

BlobInfo LayerWriter::finish()
{
    State& s = *state_;
    if (s.finished) {
        throw std::logic_error("tar: finish called twice");
    }
    s.finished = true;
    if (archive_write_close(s.ar) != ARCHIVE_OK) {
        s.fail("closing the tar stream");
    }
    s.gzip.finish();
    BlobInfo info;
    info.diff_id_hex = s.tar_hash.hex_digest();
    info.digest_hex = s.gz_hash.hex_digest();
    info.size = s.gz_size;
    s.storage.put_file(blob_path(info.digest_hex), s.file.hand_over());
    return info;
}

} // namespace nixery
