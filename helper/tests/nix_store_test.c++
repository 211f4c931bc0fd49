// The store query parsing and the argv built for Nix.
#include "nix/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

using namespace nixery;

TEST(NixStore, ParsesPathInfo)
{
    std::string json = R"([
      {"path":"/nix/store/bbb-app","narSize":300,"narHash":"sha256:x",
       "references":["/nix/store/bbb-app","/nix/store/aaa-lib"]},
      {"path":"/nix/store/aaa-lib","narSize":100,"references":[]}
    ])";
    auto paths = parse_path_info(json);
    ASSERT_EQ(paths.size(), 2u);
    EXPECT_EQ(paths[0].path, "/nix/store/aaa-lib");
    EXPECT_EQ(paths[0].nar_size, 100u);
    EXPECT_TRUE(paths[0].references.empty());
    EXPECT_EQ(paths[1].path, "/nix/store/bbb-app");
    EXPECT_EQ(paths[1].nar_size, 300u);
    EXPECT_EQ(
        paths[1].references,
        (std::vector<std::string>{"/nix/store/aaa-lib", "/nix/store/bbb-app"}));
}

TEST(NixStore, ParsesPathInfoKeyedByPath)
{
    // Newer Nix prints an object keyed by store path, with references by
    // base name; the closure JSON parser takes both forms.
    auto paths = parse_path_info(R"({
      "/nix/store/bbb-app":{"narSize":300,"references":["aaa-lib"]},
      "/nix/store/aaa-lib":{"narSize":100,"references":[]}})");
    ASSERT_EQ(paths.size(), 2u);
    EXPECT_EQ(paths[0].path, "/nix/store/aaa-lib");
    EXPECT_EQ(paths[1].references,
              (std::vector<std::string>{"/nix/store/aaa-lib"}));
}

TEST(NixStore, RejectsBadPathInfo)
{
    EXPECT_THROW(parse_path_info("{"), std::runtime_error);
    EXPECT_THROW(parse_path_info("{}"), std::runtime_error);
    EXPECT_THROW(parse_path_info(R"([{"path":"/nix/store/a"}])"),
                 std::runtime_error);
    EXPECT_THROW(parse_path_info(
                     R"([{"path":"/nix/store/a","valid":false,
                          "narSize":1,"references":[]}])"),
                 std::runtime_error);
}

TEST(NixStore, ErrorMessageStartsAtTheErrorLine)
{
    std::string err = "building '/nix/store/x.drv'...\n"
                      "\x1b[31;1merror:\x1b[0m builder for '/nix/store/x.drv' "
                      "failed with exit code 3\n  last log lines:\n\n";
    EXPECT_EQ(nix_error_message(err),
              "error: builder for '/nix/store/x.drv' failed with exit code 3"
              "\n  last log lines:");
    EXPECT_EQ(nix_error_message("just noise\n"), "just noise");
    std::string long_err = "error: " + std::string(10000, 'x');
    EXPECT_EQ(nix_error_message(long_err, 100).size(), 103u);
}

TEST(NixStore, ShowTraceHintDropped)
{
    EXPECT_EQ(nix_error_message("error: boom\n(use '--show-trace' to show "
                                "detailed location information)\n"),
              "error: boom");
}

TEST(NixStore, BuildErrorWithLogTail)
{
    std::string err = "these 2 derivations will be built:\n"
                      "  /nix/store/a.drv\n"
                      "building '/nix/store/a.drv'...\n"
                      "compiling...\n"
                      "fatal: broke\n"
                      "error: builder for '/nix/store/a.drv' failed with "
                      "exit code 3\n";
    EXPECT_EQ(nix_build_error_message(err),
              "error: builder for '/nix/store/a.drv' failed with exit code 3"
              "\nlast lines of the build log:\n> compiling...\n> fatal: "
              "broke");
    EXPECT_EQ(nix_build_error_message(err, 1),
              "error: builder for '/nix/store/a.drv' failed with exit code 3"
              "\nlast lines of the build log:\n> fatal: broke");
    EXPECT_EQ(nix_build_error_message("error: x\n"), "error: x");
}

TEST(NixStore, Argv)
{
    auto dir = std::filesystem::temp_directory_path() / "nixery-argv-test";
    GcRoots roots(dir.string());
    auto argv = realise_argv({"/nix/store/a.drv", "/nix/store/b.drv"}, roots);
    EXPECT_EQ(argv, (std::vector<std::string>{
                        "nix-store", "--realise", "/nix/store/a.drv",
                        "/nix/store/b.drv", "--add-root", roots.root_link()}));
    EXPECT_TRUE(std::filesystem::is_directory(roots.dir()));
    auto info = path_info_argv({"/nix/store/a"});
    EXPECT_EQ(info.back(), "/nix/store/a");
    EXPECT_NE(std::find(info.begin(), info.end(), "--json"), info.end());
}

TEST(NixStore, GcRootsDirectoryGoesWithTheHolder)
{
    auto parent = std::filesystem::temp_directory_path() / "nixery-roots-test";
    std::string dir;
    {
        GcRoots roots(parent.string());
        dir = roots.dir();
        EXPECT_TRUE(std::filesystem::is_directory(dir));
        std::filesystem::create_symlink("/nix/store/x", roots.root_link());
    }
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir)));
}
