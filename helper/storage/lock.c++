#include "storage/lock.h"

#include "atomic_file.h"

#include <cerrno>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace nixery {

int StorageLock::open_lock_file(const std::string& storage_root)
{
    make_directories(storage_root);
    std::string path = storage_root + "/" + gc_lock_name;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(), "open " + path);
    }
    return fd;
}

StorageLock StorageLock::shared(const std::string& storage_root)
{
    int fd = open_lock_file(storage_root);
    while (::flock(fd, LOCK_SH) != 0) {
        if (errno != EINTR) {
            int e = errno;
            ::close(fd);
            throw std::system_error(e, std::generic_category(),
                                    "flock " + storage_root + "/" +
                                        gc_lock_name);
        }
    }
    return StorageLock(fd);
}

StorageLock StorageLock::exclusive(const std::string& storage_root,
                                   std::chrono::milliseconds timeout)
{
    int fd = open_lock_file(storage_root);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // Polled, so that a long build cannot hold the collector forever.
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK && e != EINTR) {
            ::close(fd);
            throw std::system_error(e, std::generic_category(),
                                    "flock " + storage_root + "/" +
                                        gc_lock_name);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            ::close(fd);
            throw std::runtime_error("storage is busy: builds held " +
                                     storage_root + "/" + gc_lock_name +
                                     " for longer than the lock timeout");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return StorageLock(fd);
}

StorageLock::StorageLock(StorageLock&& other) noexcept : fd_(other.fd_)
{
    other.fd_ = -1;
}

StorageLock::~StorageLock()
{
    if (fd_ >= 0) {
        ::close(fd_); // releases the lock
    }
}

} // namespace nixery
