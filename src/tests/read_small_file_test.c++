#include "atomic_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace nixery {
namespace {

class ReadSmallFile : public ::testing::Test {
  protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/nixery-read-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override
    {
        std::remove((dir + "/f").c_str());
        ::rmdir(dir.c_str());
    }
    void write(const std::string& text)
    {
        std::ofstream(dir + "/f", std::ios::binary) << text;
    }
    std::string dir;
};

TEST_F(ReadSmallFile, WholeFileUpToTheLimit)
{
    write(std::string(10, 'x'));
    EXPECT_EQ(read_small_file(dir + "/f", 10), std::string(10, 'x'));
    EXPECT_EQ(read_small_file(dir + "/f", 100), std::string(10, 'x'));
    write("");
    EXPECT_EQ(read_small_file(dir + "/f", 10), std::string());
}

TEST_F(ReadSmallFile, LongerThanTheLimitOrMissingIsNothing)
{
    write(std::string(11, 'x'));
    EXPECT_EQ(read_small_file(dir + "/f", 10), std::nullopt);
    EXPECT_EQ(read_small_file(dir + "/missing", 10), std::nullopt);
    EXPECT_EQ(read_small_file(dir, 10), std::nullopt) << "a directory";
}

} // namespace
} // namespace nixery
