// Package sources: Nixery's precedence, tag rendering, pinning.
#include "nix/package_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

using namespace nixery;

namespace {
const std::string commit = "d6b863fd9b7bb962e6f9fdf292419a775e772891";
}

TEST(PackageSource, PrecedenceChannelRepoPath)
{
    SourceSettings all{"nixos-unstable", "https://example/repo.git",
                       "/srv/pkgs"};
    auto s = choose_package_source({}, all);
    EXPECT_EQ(s.type, PackageSource::Type::channel);
    EXPECT_EQ(s.value, "nixos-unstable");

    s = choose_package_source({}, {"", "https://example/repo.git", "/p"});
    EXPECT_EQ(s.type, PackageSource::Type::git);
    EXPECT_EQ(s.value, "https://example/repo.git");

    s = choose_package_source({}, {"", "", "/srv/pkgs/"});
    EXPECT_EQ(s.type, PackageSource::Type::path);
    EXPECT_EQ(s.value, "/srv/pkgs/");
}

TEST(PackageSource, FlagsWinOverEnvironment)
{
    auto s = choose_package_source({"", "", "/from/flag"},
                                   {"nixos-unstable", "", ""});
    EXPECT_EQ(s.type, PackageSource::Type::path);
    EXPECT_EQ(s.value, "/from/flag");
}

TEST(PackageSource, RelativePathBecomesAbsolute)
{
    auto s = choose_package_source({"", "", "nix/pkgs"}, {});
    EXPECT_EQ(s.value, (std::filesystem::current_path() / "nix/pkgs").string());
}

TEST(PackageSource, NothingSetIsAnError)
{
    EXPECT_THROW(choose_package_source({}, {}), std::invalid_argument);
}

TEST(PackageSource, ReadsNixeryVariables)
{
    ::setenv("NIXERY_CHANNEL", "", 1);
    ::setenv("NIXERY_PKGS_REPO", "/srv/repo", 1);
    ::setenv("NIXERY_PKGS_PATH", "/srv/path", 1);
    auto env = source_settings_from_env();
    ::unsetenv("NIXERY_PKGS_REPO");
    ::unsetenv("NIXERY_PKGS_PATH");
    ::unsetenv("NIXERY_CHANNEL");
    EXPECT_EQ(env.pkgs_repo, "/srv/repo");
    EXPECT_EQ(env.pkgs_path, "/srv/path");
    EXPECT_EQ(choose_package_source({}, env).type, PackageSource::Type::git);
}

TEST(PackageSource, GitTagSemantics)
{
    PackageSource git{PackageSource::Type::git, "/srv/repo"};
    EXPECT_EQ(render_source(git, "latest").args, R"({"url":"/srv/repo"})");
    EXPECT_EQ(render_source(git, "").args, R"({"url":"/srv/repo"})");
    EXPECT_EQ(render_source(git, commit).args,
              R"({"rev":")" + commit + R"(","url":"/srv/repo"})");
    EXPECT_EQ(render_source(git, "release-24.05").args,
              R"({"ref":"release-24.05","url":"/srv/repo"})");
    // Upper-case hex is a branch name, as in Nixery's regex.
    std::string upper = "D6B863FD9B7BB962E6F9FDF292419A775E772891";
    EXPECT_EQ(render_source(git, upper).args,
              R"({"ref":")" + upper + R"(","url":"/srv/repo"})");
    EXPECT_EQ(render_source(git, "latest").type, "git");
}

TEST(PackageSource, ChannelAndPathIgnoreTheTag)
{
    PackageSource channel{PackageSource::Type::channel, "nixos-24.05"};
    EXPECT_EQ(render_source(channel, commit).type, "nixpkgs");
    EXPECT_EQ(render_source(channel, commit).args, "nixos-24.05");
    PackageSource path{PackageSource::Type::path, "/srv/pkgs"};
    EXPECT_EQ(render_source(path, "v1").type, "path");
    EXPECT_EQ(render_source(path, "v1").args, "/srv/pkgs");
}

TEST(PackageSource, Pinned)
{
    PackageSource git{PackageSource::Type::git, "/srv/repo"};
    EXPECT_TRUE(git.pinned(commit));
    EXPECT_FALSE(git.pinned("latest"));
    EXPECT_FALSE(git.pinned(commit.substr(1)));
    PackageSource channel{PackageSource::Type::channel, commit};
    EXPECT_TRUE(channel.pinned("latest"));
    channel.value = "nixos-unstable";
    EXPECT_FALSE(channel.pinned(commit));
    PackageSource path{PackageSource::Type::path, "/srv/pkgs"};
    EXPECT_FALSE(path.pinned(commit));
}
