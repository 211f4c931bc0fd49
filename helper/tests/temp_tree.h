// Test support: a temporary directory removed at the end of the test, and
// small helpers to make store trees in it.
#pragma once

#include <cstdlib>
#include <fcntl.h>
#include <ftw.h>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace nixery::test {

class TempDir {
  public:
    TempDir()
    {
        const char* base = std::getenv("TMPDIR");
        std::string t = std::string(base ? base : "/tmp") + "/nixery-ut-XXXXXX";
        if (::mkdtemp(t.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = t;
    }
    ~TempDir()
    {
        ::nftw(
            path_.c_str(),
            [](const char* p, const struct stat*, int, FTW*) {
                ::chmod(p, 0700); // read-only store dirs
                return ::remove(p);
            },
            64, FTW_DEPTH | FTW_PHYS);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const
    {
        return path_ + "/" + rel;
    }

  private:
    std::string path_;
};

inline void mkdirs(const std::string& path, mode_t mode = 0755)
{
    for (std::size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            ::mkdir(path.substr(0, i).c_str(), mode);
        }
    }
}

inline void write_file(const std::string& path, const std::string& contents,
                       mode_t mode = 0644)
{
    mkdirs(path.substr(0, path.find_last_of('/')));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::write(fd, contents.data(), contents.size()) !=
                      static_cast<ssize_t>(contents.size())) {
        throw std::runtime_error("cannot write " + path);
    }
    ::close(fd);
    ::chmod(path.c_str(), mode);
}

inline std::string read_file(const std::string& path)
{
    std::string out;
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) {
        throw std::runtime_error("cannot read " + path);
    }
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

} // namespace nixery::test
