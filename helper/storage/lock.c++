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

namespace {

class FlockHold final : public LockHold {
  public:
    explicit FlockHold(int fd) noexcept : fd_(fd) {}
    FlockHold(const FlockHold&) = delete;
    FlockHold& operator=(const FlockHold&) = delete;
    ~FlockHold() override { ::close(fd_); } // releases the lock

  private:
    int fd_;
};

class FlockLock final : public CollectionLock {
  public:
    explicit FlockLock(std::string root)
        : root_(std::move(root)), path_(root_ + "/" + gc_lock_name)
    {
    }

    std::string describe() const override { return "flock " + path_; }

    std::unique_ptr<LockHold> shared() override
    {
        int fd = open_lock_file();
        while (::flock(fd, LOCK_SH) != 0) {
            if (errno != EINTR) {
                int e = errno;
                ::close(fd);
                throw std::system_error(e, std::generic_category(),
                                        "flock " + path_);
            }
        }
        return std::make_unique<FlockHold>(fd);
    }

    std::unique_ptr<LockHold>
    exclusive(std::chrono::milliseconds timeout) override
    {
        int fd = open_lock_file();
        auto deadline = std::chrono::steady_clock::now() + timeout;
        // Polled, so that a long build cannot hold the collector forever.
        while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            if (e != EWOULDBLOCK && e != EINTR) {
                ::close(fd);
                throw std::system_error(e, std::generic_category(),
                                        "flock " + path_);
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                ::close(fd);
                throw std::runtime_error("storage is busy: builds held " +
                                         path_ +
                                         " for longer than the lock timeout");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return std::make_unique<FlockHold>(fd);
    }

  private:
    int open_lock_file() const
    {
        make_directories(root_);
        int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            throw std::system_error(errno, std::generic_category(),
                                    "open " + path_);
        }
        return fd;
    }

    std::string root_;
    std::string path_;
};

} // namespace

std::unique_ptr<CollectionLock> open_flock_lock(const std::string& storage_root)
{
    if (storage_root.empty()) {
        throw std::runtime_error("gc.lock: no storage root given");
    }
    return std::make_unique<FlockLock>(storage_root);
}

} // namespace nixery
