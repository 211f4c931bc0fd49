#include "image/symlink_layer.h"

#include "temp_tree.h"

#include <gtest/gtest.h>

#include <map>

namespace nixery {
namespace {

using Kind = TreeEntry::Kind;

std::map<std::string, TreeEntry> by_name(const std::vector<TreeEntry>& es)
{
    std::map<std::string, TreeEntry> m;
    for (const TreeEntry& e : es) {
        m[e.name] = e;
    }
    return m;
}

class SymlinkLayer : public ::testing::Test {
  protected:
    void SetUp() override
    {
        std::string s = dir / "nix/store/";
        test::write_file(s + "a-one/bin/one", "1", 0555);
        test::write_file(s + "a-one/bin/same", "from a", 0555);
        test::write_file(s + "a-one/share/doc/one.txt", "1");
        test::write_file(s + "a-one/lib/liba.so", "a");
        test::write_file(s + "b-two/bin/two", "2", 0555);
        test::write_file(s + "b-two/bin/same", "from b", 0555);
        test::write_file(s + "b-two/etc/two.conf", "2");
        test::mkdirs(s + "b-two/real-lib");
        test::write_file(s + "b-two/real-lib/libb.so", "b");
        ::symlink("real-lib", (s + "b-two/lib").c_str());
        test::write_file(s + "c-coreutils-9.1/bin/env", "env", 0555);
        test::write_file(s + "d-nss-cacert-3.9/etc/ssl/certs/ca-bundle.crt",
                         "certs");
        closure.paths = {{"/nix/store/a-one", 1, {}},
                         {"/nix/store/b-two", 1, {}},
                         {"/nix/store/c-coreutils-9.1", 1, {}},
                         {"/nix/store/d-nss-cacert-3.9", 1, {}}};
        closure.roots = {"/nix/store/b-two", "/nix/store/a-one",
                         "/nix/store/d-nss-cacert-3.9"};
    }

    test::TempDir dir;
    Closure closure;
};

TEST_F(SymlinkLayer, MergesDirectoriesAndLinksFiles)
{
    auto es = symlink_layer_entries(closure, dir.path());
    auto m = by_name(es);
    EXPECT_EQ(es.front().name, ".");
    EXPECT_EQ(es.front().mode, 0755u);
    EXPECT_EQ(m["bin"].kind, Kind::directory);
    EXPECT_EQ(m["bin/one"].target, "/nix/store/a-one/bin/one");
    EXPECT_EQ(m["bin/two"].target, "/nix/store/b-two/bin/two");
    // Conflict: the first output in path order wins.
    EXPECT_EQ(m["bin/same"].target, "/nix/store/a-one/bin/same");
    // A directory only one output has stays one symlink.
    EXPECT_EQ(m["share"].kind, Kind::symlink);
    EXPECT_EQ(m["share"].target, "/nix/store/a-one/share");
    EXPECT_EQ(m.count("share/doc"), 0u);
    // A symlink to a directory merges like a directory.
    EXPECT_EQ(m["lib"].kind, Kind::directory);
    EXPECT_EQ(m["lib/liba.so"].target, "/nix/store/a-one/lib/liba.so");
    EXPECT_EQ(m["lib/libb.so"].target, "/nix/store/b-two/lib/libb.so");
    // etc from b-two is unfolded to add the certificate links.
    EXPECT_EQ(m["etc"].kind, Kind::directory);
    EXPECT_EQ(m["etc/two.conf"].target, "/nix/store/b-two/etc/two.conf");
    EXPECT_EQ(m["etc/ssl/certs/ca-bundle.crt"].target,
              "/nix/store/d-nss-cacert-3.9/etc/ssl/certs/ca-bundle.crt");
    EXPECT_EQ(m["etc/ssl/certs/ca-certificates.crt"].target,
              "/nix/store/d-nss-cacert-3.9/etc/ssl/certs/ca-bundle.crt");
    EXPECT_EQ(m["tmp"].kind, Kind::directory);
    EXPECT_EQ(m["tmp"].mode, 01777u);
    // coreutils is in the closure (not a root): /usr/bin/env still works.
    EXPECT_EQ(m["usr/bin/env"].target, "/nix/store/c-coreutils-9.1/bin/env");
    // Tar order: parents first, children sorted.
    std::vector<std::string> names;
    for (auto& e : es) {
        names.push_back(e.name);
    }
    auto pos = [&](const std::string& n) {
        return std::find(names.begin(), names.end(), n) - names.begin();
    };
    EXPECT_LT(pos("bin"), pos("bin/one"));
    EXPECT_LT(pos("bin/one"), pos("bin/same"));
    EXPECT_LT(pos("bin/two"), pos("etc"));
}

TEST_F(SymlinkLayer, WithoutCoreutilsOrCacertNoExtraLinks)
{
    closure.paths.resize(2);
    closure.roots = {"/nix/store/a-one"};
    auto m = by_name(symlink_layer_entries(closure, dir.path()));
    EXPECT_EQ(m.count("usr/bin/env"), 0u);
    EXPECT_EQ(m.count("usr"), 0u);
    EXPECT_EQ(m.count("etc/ssl/certs/ca-certificates.crt"), 0u);
    EXPECT_EQ(m["bin"].kind, Kind::symlink);
    EXPECT_EQ(m["tmp"].mode, 01777u);
}

TEST_F(SymlinkLayer, AccountsNameServiceAndRootHome)
{
    auto m = by_name(symlink_layer_entries(closure, dir.path()));
    ASSERT_EQ(m["etc/passwd"].kind, Kind::file);
    EXPECT_EQ(m["etc/passwd"].mode, 0644u);
    EXPECT_TRUE(m["etc/passwd"].target.starts_with("root:x:0:0:"));
    EXPECT_NE(m["etc/passwd"].target.find("\nnobody:x:65534:65534:"),
              std::string::npos);
    EXPECT_EQ(m["etc/group"].target, "root:x:0:\nnogroup:x:65534:\n");
    EXPECT_NE(m["etc/nsswitch.conf"].target.find("hosts:     files dns\n"),
              std::string::npos);
    EXPECT_EQ(m["root"].kind, Kind::directory);
    EXPECT_EQ(m["root"].mode, 0700u);
    // The outputs' own etc entries are still there beside them.
    EXPECT_EQ(m["etc/two.conf"].target, "/nix/store/b-two/etc/two.conf");
}

TEST_F(SymlinkLayer, OutputsKeepTheirOwnAccountsAndShell)
{
    std::string s = dir / "nix/store/";
    test::write_file(s + "e-base/etc/passwd", "daemon:x:1:1::/:/x\n");
    test::write_file(s + "e-base/bin/sh", "sh", 0555);
    test::write_file(s + "f-bash-5.2/bin/bash", "bash", 0555);
    closure.paths.push_back({"/nix/store/e-base", 1, {}});
    closure.paths.push_back({"/nix/store/f-bash-5.2", 1, {}});
    closure.roots.push_back("/nix/store/e-base");
    auto m = by_name(symlink_layer_entries(closure, dir.path()));
    EXPECT_EQ(m["etc/passwd"].kind, Kind::symlink);
    EXPECT_EQ(m["etc/passwd"].target, "/nix/store/e-base/etc/passwd");
    EXPECT_EQ(m["etc/group"].kind, Kind::file);
    EXPECT_EQ(m["bin/sh"].target, "/nix/store/e-base/bin/sh");
}

TEST_F(SymlinkLayer, ShellFromBashInTheClosure)
{
    auto m = by_name(symlink_layer_entries(closure, dir.path()));
    EXPECT_EQ(m.count("bin/sh"), 0u) << "no bash, no /bin/sh";

    // bash only as a dependency (as git has it): /bin/sh still reaches it.
    std::string s = dir / "nix/store/";
    test::write_file(s + "f-bash-5.2/bin/bash", "bash", 0555);
    closure.paths.push_back({"/nix/store/f-bash-5.2", 1, {}});
    m = by_name(symlink_layer_entries(closure, dir.path()));
    EXPECT_EQ(m["bin/sh"].kind, Kind::symlink);
    EXPECT_EQ(m["bin/sh"].target, "/nix/store/f-bash-5.2/bin/bash");
    EXPECT_EQ(m["bin/one"].target, "/nix/store/a-one/bin/one");
}

TEST_F(SymlinkLayer, ShellNotAddedOverAnOutputsLinkedBin)
{
    // bin is one symlink to a single output's directory that has sh: no
    // unfolding, no replacing.
    std::string s = dir / "nix/store/";
    test::write_file(s + "g-busybox-1/bin/sh", "busybox", 0555);
    test::write_file(s + "f-bash-5.2/bin/bash", "bash", 0555);
    closure.paths = {{"/nix/store/f-bash-5.2", 1, {}},
                     {"/nix/store/g-busybox-1", 1, {}}};
    closure.roots = {"/nix/store/g-busybox-1"};
    auto m = by_name(symlink_layer_entries(closure, dir.path()));
    EXPECT_EQ(m["bin"].kind, Kind::symlink);
    EXPECT_EQ(m["bin"].target, "/nix/store/g-busybox-1/bin");
    EXPECT_EQ(m.count("bin/sh"), 0u);
}

TEST_F(SymlinkLayer, SameInputSameEntries)
{
    auto a = symlink_layer_entries(closure, dir.path());
    std::reverse(closure.roots.begin(), closure.roots.end());
    auto b = symlink_layer_entries(closure, dir.path());
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].name, b[i].name);
        EXPECT_EQ(a[i].target, b[i].target);
    }
}

} // namespace
} // namespace nixery
