// Closures read from a Nix store database: a database made here with Nix's
// schema (ValidPaths, Refs), whatever would make the read wrong answered
// with nothing, and which database is the local store's.
#include "nix/store_db.h"
#include "temp_tree.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <cstdlib>
#include <optional>
#include <string>

using namespace nixery;

namespace {

// Nix's schema (version 10), the tables read.
constexpr const char* schema = R"(
CREATE TABLE ValidPaths (
    id integer primary key autoincrement not null,
    path text unique not null, hash text not null,
    registrationTime integer not null, deriver text, narSize integer,
    ultimate integer, sigs text, ca text);
CREATE TABLE Refs (
    referrer integer not null, reference integer not null,
    primary key (referrer, reference));
)";

class StoreDb : public ::testing::Test {
  protected:
    void SetUp() override
    {
        db_ = dir_ / "db.sqlite";
        ASSERT_EQ(sqlite3_open(db_.c_str(), &h_), SQLITE_OK);
        exec(schema);
        // app -> lib -> libc, app -> app, tool alone, nosize.
        add(1, "/nix/store/aaa-app", 300);
        add(2, "/nix/store/bbb-lib", 200);
        add(3, "/nix/store/ccc-libc", 100);
        add(4, "/nix/store/ddd-tool", 50);
        exec("INSERT INTO ValidPaths (id, path, hash, registrationTime) "
             "VALUES (5, '/nix/store/eee-nosize', 'sha256:x', 1)");
        exec("INSERT INTO Refs VALUES (1, 1), (1, 2), (2, 3), (5, 3)");
    }
    void TearDown() override { sqlite3_close(h_); }

    void exec(const std::string& sql)
    {
        char* err = nullptr;
        ASSERT_EQ(sqlite3_exec(h_, sql.c_str(), nullptr, nullptr, &err),
                  SQLITE_OK)
            << (err ? err : "");
    }
    void add(int id, const std::string& path, int size)
    {
        exec("INSERT INTO ValidPaths (id, path, hash, registrationTime, "
             "narSize) VALUES (" +
             std::to_string(id) + ", '" + path + "', 'sha256:x', 1, " +
             std::to_string(size) + ")");
    }

    test::TempDir dir_;
    std::string db_;
    sqlite3* h_ = nullptr;
};

TEST_F(StoreDb, ClosureWithSizesAndReferences)
{
    std::string why;
    auto paths = read_closure_db(db_, {"/nix/store/aaa-app"}, &why);
    ASSERT_TRUE(paths) << why;
    ASSERT_EQ(paths->size(), 3u);
    EXPECT_EQ((*paths)[0].path, "/nix/store/aaa-app");
    EXPECT_EQ((*paths)[0].nar_size, 300u);
    EXPECT_EQ(
        (*paths)[0].references,
        (std::vector<std::string>{"/nix/store/aaa-app", "/nix/store/bbb-lib"}));
    EXPECT_EQ((*paths)[1].path, "/nix/store/bbb-lib");
    EXPECT_EQ((*paths)[1].references,
              (std::vector<std::string>{"/nix/store/ccc-libc"}));
    EXPECT_EQ((*paths)[2].path, "/nix/store/ccc-libc");
    EXPECT_EQ((*paths)[2].nar_size, 100u);
    EXPECT_TRUE((*paths)[2].references.empty());
}

TEST_F(StoreDb, SeveralRootsShareTheirPaths)
{
    auto paths = read_closure_db(
        db_, {"/nix/store/ddd-tool", "/nix/store/bbb-lib"}, nullptr);
    ASSERT_TRUE(paths);
    ASSERT_EQ(paths->size(), 3u);
    EXPECT_EQ((*paths)[0].path, "/nix/store/bbb-lib");
    EXPECT_EQ((*paths)[1].path, "/nix/store/ccc-libc");
    EXPECT_EQ((*paths)[2].path, "/nix/store/ddd-tool");
}

TEST_F(StoreDb, AnythingIncompleteIsNothing)
{
    std::string why;
    EXPECT_FALSE(read_closure_db(
        db_, {"/nix/store/aaa-app", "/nix/store/zzz-gone"}, &why));
    EXPECT_NE(why.find("zzz-gone is not valid"), std::string::npos) << why;
    EXPECT_FALSE(read_closure_db(db_, {"/nix/store/eee-nosize"}, &why));
    EXPECT_NE(why.find("NAR size"), std::string::npos) << why;
    EXPECT_FALSE(read_closure_db(db_, {}, &why));
    EXPECT_FALSE(read_closure_db("", {"/nix/store/aaa-app"}, &why));
    EXPECT_FALSE(
        read_closure_db(dir_ / "absent.sqlite", {"/nix/store/aaa-app"}, &why));
    EXPECT_NE(why.find("absent.sqlite"), std::string::npos) << why;
}

TEST_F(StoreDb, NotADatabaseIsNothing)
{
    std::string other = dir_ / "other.sqlite";
    {
        sqlite3* h = nullptr;
        ASSERT_EQ(sqlite3_open(other.c_str(), &h), SQLITE_OK);
        sqlite3_exec(h, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
        sqlite3_close(h);
    }
    std::string why;
    EXPECT_FALSE(read_closure_db(other, {"/nix/store/aaa-app"}, &why));
    EXPECT_NE(why.find("ValidPaths"), std::string::npos) << why;
}

TEST_F(StoreDb, TheRootsAreBoundNeverSql)
{
    std::string why;
    EXPECT_FALSE(read_closure_db(
        db_, {"/nix/store/aaa-app') OR 1=1 --", "/nix/store/x'"}, &why));
    EXPECT_NE(why.find("is not valid"), std::string::npos) << why;
}

// Restores an environment variable when the test ends.
class Env {
  public:
    Env(const char* name, const char* value) : name_(name)
    {
        if (const char* old = std::getenv(name)) {
            old_ = old;
        }
        value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
    ~Env() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

  private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST(LocalStoreDb, TheLocalStoresOnly)
{
    Env remote("NIX_REMOTE", nullptr);
    Env state("NIX_STATE_DIR", nullptr);
    Env config("NIX_CONFIG", "sandbox = false\nsubstituters =\n");
    EXPECT_EQ(local_store_db(), "/nix/var/nix/db/db.sqlite");
    {
        Env s("NIX_STATE_DIR", "/srv/nix/var/nix");
        EXPECT_EQ(local_store_db(), "/srv/nix/var/nix/db/db.sqlite");
    }
    for (const char* local : {"", "local", "daemon", "auto"}) {
        Env r("NIX_REMOTE", local);
        EXPECT_EQ(local_store_db(), "/nix/var/nix/db/db.sqlite") << local;
    }
    {
        Env r("NIX_REMOTE", "ssh-ng://builder");
        EXPECT_EQ(local_store_db(), "");
    }
    {
        Env c("NIX_CONFIG", "sandbox = false\n  store = /srv/chroot\n");
        EXPECT_EQ(local_store_db(), "");
    }
    {
        Env c("NIX_CONFIG", "store = daemon\nstore-dir-x = 1\n");
        EXPECT_EQ(local_store_db(), "/nix/var/nix/db/db.sqlite");
    }
}

} // namespace
