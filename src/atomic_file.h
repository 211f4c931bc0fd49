// Atomic publication of files into the storage root.
//
// Readers (nginx workers, possibly on other hosts sharing the storage) must
// never see a partial file. Every file is written under <root>/tmp with a
// unique name, fsync'ed, then renamed to its final path, and the final
// directory is fsync'ed, so a crash leaves either nothing or the whole file.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace nixery {

class AtomicFile {
  public:
    // Creates a temporary file under <root>/tmp (creating tmp/ if needed).
    // Throws std::system_error on failure.
    explicit AtomicFile(std::string root);
    ~AtomicFile(); // removes the temporary file unless committed
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, std::size_t size);
    void write(std::string_view data) { write(data.data(), data.size()); }

    // fsync, create the parent directories of `relative_path` (mode 0755),
    // rename into place, fsync the directory. The file gets mode 0644.
    void commit(std::string_view relative_path);

    const std::string& temp_path() const noexcept { return temp_path_; }
    int fd() const noexcept { return fd_; }

  private:
    std::string root_;
    std::string temp_path_;
    int fd_ = -1;
    bool committed_ = false;
};

// Publish `contents` at <root>/<relative_path> atomically.
void publish_file(const std::string& root, std::string_view relative_path,
                  std::string_view contents);

// mkdir -p with mode 0755; throws std::system_error.
void make_directories(const std::string& path);

// The whole of a small file (an index entry, a layer cache entry, a
// manifest); nullopt when it cannot be read or is longer than `max` bytes.
std::optional<std::string> read_small_file(const std::string& path,
                                           std::size_t max);

} // namespace nixery
