// One behaviour suite for every storage backend: each backend's test file
// instantiates StorageSuite with a factory that opens a fresh, empty
// storage (a temp directory, a new bucket on a real S3 server), and every
// check below runs against it. What a backend must do is written once here.
#pragma once

#include "storage/storage.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace nixery::test {

struct StorageBackend {
    std::string name;
    // A fresh, empty storage; nullptr skips the suite (say why on stderr).
    std::function<std::unique_ptr<Storage>()> open;
};

// gtest names a parameter by this (not by its bytes).
inline void PrintTo(const StorageBackend& backend, std::ostream* os)
{
    *os << backend.name;
}

class StorageSuite : public ::testing::TestWithParam<StorageBackend> {
  protected:
    void SetUp() override
    {
        storage = GetParam().open();
        if (!storage) {
            GTEST_SKIP() << GetParam().name << " is not available here";
        }
    }
    // A file under local_tmp() holding `bytes`, for put_file.
    std::string local_file(const std::string& name, const std::string& bytes);

    std::unique_ptr<Storage> storage;
};

} // namespace nixery::test
