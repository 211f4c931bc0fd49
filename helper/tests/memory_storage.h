// Test support: a Storage that is not a directory (objects in memory, a
// local_tmp() of its own), standing in for a bucket so that tests prove
// what reaches storage goes through the interface only.
#pragma once

#include "storage/storage.h"
#include "temp_tree.h"

#include <gtest/gtest.h>

#include <ctime>
#include <dirent.h>
#include <map>
#include <mutex>
#include <unistd.h>

namespace nixery::test {

class MemoryStorage final : public Storage {
  public:
    MemoryStorage() : tmp_(dir_ / "local-tmp") { mkdirs(tmp_); }

    std::string describe() const override { return "memory"; }
    const std::string& local_tmp() const override { return tmp_; }

    void put(std::string_view k, std::string_view b) override
    {
        std::lock_guard lock(mutex_);
        objects_[std::string(k)] = b;
    }
    void put_file(std::string_view k, const std::string& p) override
    {
        EXPECT_EQ(p.rfind(tmp_ + "/", 0), 0u) << p;
        std::string bytes = read_file(p);
        ::unlink(p.c_str());
        put(k, bytes);
    }
    std::optional<std::string> get(std::string_view k, std::size_t max) override
    {
        std::lock_guard lock(mutex_);
        auto it = objects_.find(std::string(k));
        if (it == objects_.end()) {
            return std::nullopt;
        }
        if (it->second.size() > max) {
            throw StorageError("too large: " + it->first);
        }
        return it->second;
    }
    std::optional<std::uint64_t> size(std::string_view k) override
    {
        std::lock_guard lock(mutex_);
        auto it = objects_.find(std::string(k));
        if (it == objects_.end()) {
            return std::nullopt;
        }
        return it->second.size();
    }
    void list(std::string_view prefix,
              const std::function<void(const StoredObject&)>& each) override
    {
        std::map<std::string, std::string> copy;
        {
            std::lock_guard lock(mutex_);
            copy = objects_;
        }
        for (const auto& [k, v] : copy) {
            if (k.starts_with(prefix)) {
                each({k, v.size(), static_cast<std::int64_t>(::time(nullptr))});
            }
        }
    }
    void remove(std::string_view k) override
    {
        std::lock_guard lock(mutex_);
        objects_.erase(std::string(k));
    }

    std::map<std::string, std::string> objects() const
    {
        std::lock_guard lock(mutex_);
        return objects_;
    }
    // Files left in local_tmp().
    std::size_t local_files() const
    {
        std::size_t n = 0;
        for (DIR* d = ::opendir(tmp_.c_str()); d != nullptr;) {
            while (const dirent* e = ::readdir(d)) {
                n += e->d_name[0] != '.';
            }
            ::closedir(d);
            break;
        }
        return n;
    }

  private:
    TempDir dir_;
    std::string tmp_;
    mutable std::mutex mutex_;
    std::map<std::string, std::string> objects_;
};

} // namespace nixery::test
