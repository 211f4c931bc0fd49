// Which tags a package source has: the git listing and its cache, and
// check_tag()'s decisions, all before (or without) Nix. The last tests use
// real git and real Nix against a repository made on the spot.
#include "nix/git_refs.h"
#include "nix/resolve.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

using namespace nixery;
namespace fs = std::filesystem;

namespace {

const std::string commit = "d6b863fd9b7bb962e6f9fdf292419a775e772891";

const char* listing =
    "1111111111111111111111111111111111111111\trefs/heads/main\n"
    "2222222222222222222222222222222222222222\trefs/heads/feature/x\n"
    "3333333333333333333333333333333333333333\trefs/tags/v1.0\n"
    "4444444444444444444444444444444444444444\trefs/tags/v1.0^{}\n"
    "5555555555555555555555555555555555555555\trefs/pull/1/head\n"
    "6666666666666666666666666666666666666666\tHEAD\n"
    "garbage line\n";

struct CountingLister {
    int* calls;
    std::string out;
    std::string operator()(const std::string& url) const
    {
        EXPECT_EQ(url, "https://example.org/pkgs.git");
        ++*calls;
        return out;
    }
};

} // namespace

TEST(GitRefs, ParsesBranchesAndGitTags)
{
    RefNames names = parse_ls_remote(listing);
    EXPECT_EQ(names, (RefNames{"main", "feature/x", "v1.0"}));
    EXPECT_TRUE(parse_ls_remote("").empty());
    EXPECT_TRUE(parse_ls_remote("abc\trefs/heads/").empty());
}

TEST(GitRefs, OneListingServesManyQuestionsUntilTheTtl)
{
    int calls = 0;
    GitRefs refs("https://example.org/pkgs.git", std::chrono::seconds(3600),
                 std::chrono::seconds(1), CountingLister{&calls, listing});
    EXPECT_TRUE(refs.has("main"));
    EXPECT_TRUE(refs.has("v1.0"));
    for (int i = 0; i < 1000; ++i) {
        EXPECT_FALSE(refs.has("made-up-" + std::to_string(i)));
    }
    EXPECT_EQ(calls, 1);

    GitRefs expiring("https://example.org/pkgs.git", std::chrono::seconds(0),
                     std::chrono::seconds(1), CountingLister{&calls, listing});
    expiring.has("main");
    expiring.has("main");
    EXPECT_EQ(calls, 3);
}

TEST(GitRefs, ListListsNowAndFeedsHas)
{
    int calls = 0;
    GitRefs refs("https://example.org/pkgs.git", std::chrono::seconds(3600),
                 std::chrono::seconds(1), CountingLister{&calls, listing});
    EXPECT_EQ(refs.list(), (RefNames{"main", "feature/x", "v1.0"}));
    EXPECT_EQ(refs.list().size(), 3u);
    EXPECT_EQ(calls, 2); // each list() lists again
    EXPECT_TRUE(refs.has("v1.0"));
    EXPECT_EQ(calls, 2); // has() uses the listing list() made
}

TEST(GitRefs, ListingFailureThrows)
{
    GitRefs refs("https://example.org/pkgs.git", std::chrono::seconds(30),
                 std::chrono::seconds(1),
                 [](const std::string&) -> std::string {
                     throw std::runtime_error("git ls-remote failed");
                 });
    EXPECT_THROW(refs.has("main"), std::runtime_error);
    EXPECT_THROW(refs.list(), std::runtime_error);
}

TEST(CheckTag, PathAndChannelHaveLatestOnly)
{
    NixOptions o;
    for (PackageSource s :
         {PackageSource{PackageSource::Type::path, "/p"},
          PackageSource{PackageSource::Type::channel, "nixos-24.11"}}) {
        ResolveResult e;
        EXPECT_TRUE(check_tag(s, "latest", o, &e));
        EXPECT_TRUE(check_tag(s, "", o, &e));
        EXPECT_EQ(e.status, ResolveResult::Status::ok);
        for (std::string tag : {"v1", "LATEST", commit.c_str()}) {
            ResolveResult f;
            EXPECT_FALSE(check_tag(s, tag, o, &f)) << tag;
            EXPECT_EQ(f.status, ResolveResult::Status::tag_unknown);
            EXPECT_NE(f.message.find("'latest' only"), std::string::npos);
        }
    }
}

TEST(CheckTag, GitBranchesFromTheListingCommitsLeftToNix)
{
    int calls = 0;
    NixOptions o;
    o.git_refs = std::make_shared<GitRefs>(
        "https://example.org/pkgs.git", std::chrono::seconds(3600),
        std::chrono::seconds(1), CountingLister{&calls, listing});
    PackageSource s{PackageSource::Type::git, "https://example.org/pkgs.git"};
    ResolveResult e;
    EXPECT_TRUE(check_tag(s, "latest", o, &e));
    EXPECT_EQ(calls, 0); // the default branch needs no listing
    EXPECT_TRUE(check_tag(s, "main", o, &e));
    EXPECT_TRUE(check_tag(s, "v1.0", o, &e));
    EXPECT_TRUE(check_tag(s, commit, o, &e));
    EXPECT_EQ(e.status, ResolveResult::Status::ok);
    ResolveResult f;
    EXPECT_FALSE(check_tag(s, "missing-y22acperpkpchvleqmr4", o, &f));
    EXPECT_EQ(f.status, ResolveResult::Status::tag_unknown);
    EXPECT_NE(f.message.find("branches"), std::string::npos);
    EXPECT_EQ(calls, 1);
}

namespace {

const fs::path here = fs::path(__FILE__).parent_path();

// A git repository holding the fixture package set on `main`, with a
// branch `feature`.
struct TempRepo {
    fs::path dir;
    TempRepo()
    {
        char tmpl[] = "/tmp/nixery-git-refs-XXXXXX";
        dir = ::mkdtemp(tmpl);
        fs::copy_file(here / "fixtures/pkgs/default.nix", dir / "default.nix");
        std::string git =
            "git -C " + dir.string() + " -c user.name=t -c user.email=t@t ";
        EXPECT_EQ(std::system((git + "init -q -b main").c_str()), 0);
        EXPECT_EQ(std::system((git + "add default.nix").c_str()), 0);
        EXPECT_EQ(std::system((git + "commit -q -m fixture").c_str()), 0);
        EXPECT_EQ(std::system((git + "branch feature").c_str()), 0);
    }
    ~TempRepo() { fs::remove_all(dir); }
};

NixOptions nix_options()
{
    ::setenv("NIX_CONFIG",
             "sandbox = false\nbuild-users-group =\nsubstituters =\n", 0);
    NixOptions o;
    o.nix_dir = (here / "../../nix").lexically_normal();
    o.timeout = std::chrono::seconds(120);
    return o;
}

} // namespace

TEST(CheckTag, RealGitListing)
{
    TempRepo repo;
    GitRefs refs(repo.dir);
    EXPECT_TRUE(refs.has("main"));
    EXPECT_TRUE(refs.has("feature"));
    EXPECT_FALSE(refs.has("no-such-branch"));
    GitRefs nowhere("/nonexistent/nixery-repo");
    EXPECT_THROW(nowhere.has("main"), std::runtime_error);
}

// A commit the repository lacks: Nix's fetch fails, and that is read as
// "no such tag" (404), not as a broken package set (500).
TEST(CheckTag, MissingCommitIsTagUnknownAfterNix)
{
    TempRepo repo;
    PackageSource s{PackageSource::Type::git, repo.dir};
    ResolveResult e;
    auto list = resolve_packages(s, commit, "x86_64-linux", {"hello"},
                                 nix_options(), &e);
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(e.status, ResolveResult::Status::tag_unknown) << e.message;
    EXPECT_NE(e.message.find(commit), std::string::npos);

    ResolveResult ok;
    list = resolve_packages(s, "feature", "x86_64-linux", {"hello"},
                            nix_options(), &ok);
    EXPECT_EQ(ok.status, ResolveResult::Status::ok) << ok.message;
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].status, PackageResolution::Status::found);
}
