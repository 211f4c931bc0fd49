#include "atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace nixery {

namespace {

[[noreturn]] void throw_errno(const std::string& what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

void fsync_directory(const std::string& dir)
{
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        throw_errno("open " + dir);
    }
    int rc = ::fsync(fd);
    int saved = errno;
    ::close(fd);
    if (rc != 0) {
        errno = saved;
        throw_errno("fsync " + dir);
    }
}

} // namespace

void make_directories(const std::string& path)
{
    if (path.empty()) {
        return;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return;
    }
    auto slash = path.find_last_of('/');
    if (slash != std::string::npos && slash != 0) {
        make_directories(path.substr(0, slash));
    }
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
        throw_errno("mkdir " + path);
    }
}

AtomicFile::AtomicFile(std::string root) : root_(std::move(root))
{
    std::string dir = root_ + "/tmp";
    make_directories(dir);
    std::string templ = dir + "/publish.XXXXXX";
    fd_ = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd_ < 0) {
        throw_errno("mkstemp in " + dir);
    }
    temp_path_ = std::move(templ);
}

AtomicFile::~AtomicFile()
{
    if (fd_ >= 0) {
        ::close(fd_);
    }
    if (!committed_ && !temp_path_.empty()) {
        ::unlink(temp_path_.c_str());
    }
}

void AtomicFile::write(const void* data, std::size_t size)
{
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd_, p, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("write " + temp_path_);
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

void AtomicFile::commit(std::string_view relative_path)
{
    if (::fchmod(fd_, 0644) != 0) {
        throw_errno("fchmod " + temp_path_);
    }
    if (::fsync(fd_) != 0) {
        throw_errno("fsync " + temp_path_);
    }
    std::string final_path = root_ + "/" + std::string(relative_path);
    std::string dir = final_path.substr(0, final_path.find_last_of('/'));
    make_directories(dir);
    if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) {
        throw_errno("rename " + temp_path_ + " -> " + final_path);
    }
    committed_ = true;
    fsync_directory(dir);
}

void publish_file(const std::string& root, std::string_view relative_path,
                  std::string_view contents)
{
    AtomicFile f(root);
    f.write(contents);
    f.commit(relative_path);
}

std::optional<std::string> read_small_file(const std::string& path,
                                           std::size_t max)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return std::nullopt;
    }
    std::string text(max + 1, '\0');
    std::size_t have = 0;
    while (have < text.size()) {
        ssize_t n = ::read(fd, text.data() + have, text.size() - have);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n < 0) {
                ::close(fd);
                return std::nullopt;
            }
            break;
        }
        have += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (have > max) {
        return std::nullopt;
    }
    text.resize(have);
    return text;
}

} // namespace nixery
