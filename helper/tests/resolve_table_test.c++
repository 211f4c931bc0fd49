// Resolution against a small package set with real Nix (the fixture in
// fixtures/pkgs): the matching rules, the injection attempts, and each
// kind of failure. Needs nix-instantiate/nix-store on PATH and NIX_CONFIG
// set for offline use (the Makefile exports it).
#include "atomic_file.h"
#include "base/log.h"
#include "nix/resolve.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <unistd.h>

using namespace nixery;
namespace fs = std::filesystem;

namespace {

const fs::path here = fs::path(__FILE__).parent_path();

NixOptions options()
{
    // Nix offline (no substituters), single-user as root (no sandbox, no
    // build users), unless the caller (the Makefile) already says how.
    ::setenv("NIX_CONFIG",
             "sandbox = false\nbuild-users-group =\nsubstituters =\n", 0);
    NixOptions o;
    o.nix_dir = (here / "../../nix").lexically_normal();
    o.gc_roots_dir = fs::temp_directory_path() / "nixery-test-roots";
    o.timeout = std::chrono::seconds(120);
    return o;
}

PackageSource fixture()
{
    return {PackageSource::Type::path, here / "fixtures/pkgs"};
}

std::map<std::string, PackageResolution>
resolve(const std::vector<std::string>& names,
        std::string_view system = "x86_64-linux")
{
    ResolveResult error;
    auto list =
        resolve_packages(fixture(), "latest", system, names, options(), &error);
    EXPECT_EQ(error.status, ResolveResult::Status::ok) << error.message;
    EXPECT_EQ(list.size(), names.size());
    std::map<std::string, PackageResolution> by_name;
    for (auto& p : list) {
        by_name[p.name] = p;
    }
    return by_name;
}

ImageRequest request(std::vector<std::string> packages)
{
    ImageRequest r;
    r.name = "test";
    r.tag = "latest";
    r.packages = std::move(packages);
    return r;
}

using S = PackageResolution::Status;

} // namespace

TEST(ResolveTable, Matching)
{
    auto r = resolve({"hello", "haskellpackages.stylish-haskell",
                      "perlpackages.json", "1password", "_1password", "HELLO",
                      "multi.dev", "nope", "perlpackages.nope",
                      "hello.nope.deeper", "", "."});
    EXPECT_EQ(r["hello"].status, S::found);
    EXPECT_EQ(r["hello"].attr_path, "hello");
    EXPECT_TRUE(r["hello"].output_path.ends_with("-hello-1.0"));
    EXPECT_TRUE(r["hello"].drv_path.ends_with("-hello-1.0.drv"));
    EXPECT_EQ(r["haskellpackages.stylish-haskell"].attr_path,
              "haskellPackages.stylish-haskell");
    EXPECT_EQ(r["perlpackages.json"].attr_path, "perlPackages.JSON");
    EXPECT_EQ(r["perlpackages.json"].status, S::found);
    EXPECT_EQ(r["1password"].attr_path, "_1password");
    EXPECT_EQ(r["_1password"].attr_path, "_1password");
    EXPECT_EQ(r["HELLO"].attr_path, "hello");
    EXPECT_EQ(r["multi.dev"].status, S::found);
    EXPECT_EQ(r["multi.dev"].output_name, "dev");
    EXPECT_TRUE(r["multi.dev"].output_path.ends_with("-multi-1.0-dev"));
    for (const char* missing :
         {"nope", "perlpackages.nope", "hello.nope.deeper", "", "."}) {
        EXPECT_EQ(r[missing].status, S::not_found) << missing;
    }
}

TEST(ResolveTable, FailuresSayWhy)
{
    auto r = resolve({"broken", "unfree", "notadrv", "astring", "armonly",
                      "twocases.foo", "hello"});
    EXPECT_EQ(r["broken"].status, S::failed);
    EXPECT_EQ(r["broken"].reason, "throws");
    EXPECT_NE(r["broken"].message.find("marked as broken"), std::string::npos)
        << r["broken"].message;
    EXPECT_EQ(r["broken"].message.find("--show-trace"), std::string::npos);
    EXPECT_EQ(r["unfree"].reason, "throws");
    EXPECT_NE(r["unfree"].message.find("unfree license"), std::string::npos)
        << r["unfree"].message;
    EXPECT_EQ(r["notadrv"].reason, "not_derivation");
    EXPECT_EQ(r["notadrv"].attr_path, "notADrv");
    EXPECT_EQ(r["astring"].reason, "not_derivation");
    EXPECT_EQ(r["armonly"].reason, "wrong_system");
    EXPECT_NE(r["armonly"].message.find("aarch64-linux"), std::string::npos);
    EXPECT_EQ(r["twocases.foo"].reason, "ambiguous");
    EXPECT_EQ(r["twocases.foo"].candidates,
              (std::vector<std::string>{"twoCases.FOO", "twoCases.Foo"}));
    // The bad ones hide nothing.
    EXPECT_EQ(r["hello"].status, S::found);
}

TEST(ResolveTable, UncatchableErrorIsolatedPerPackage)
{
    // badEval aborts a whole evaluation; the others still resolve.
    auto r = resolve({"badeval", "hello", "nope"});
    EXPECT_EQ(r["badeval"].status, S::failed);
    EXPECT_NE(r["badeval"].message.find("error:"), std::string::npos);
    EXPECT_EQ(r["hello"].status, S::found);
    EXPECT_EQ(r["nope"].status, S::not_found);
}

TEST(ResolveTable, NamesCannotInject)
{
    // Each would change the expression if it were pasted into Nix code or
    // a shell command; as data each is merely a name nobody has.
    std::vector<std::string> names{"x\"",
                                   "${builtins.abort \"injected\"}",
                                   "\"; builtins.abort \"injected\"; \"",
                                   "''${builtins.abort \"injected\"}",
                                   "a\\b",
                                   "it's",
                                   "'; rm -rf /tmp/nixery-never; '",
                                   "line\nbreak",
                                   "hello;abort",
                                   "hello\"; }; x = {",
                                   "$(touch /tmp/nixery-injected)",
                                   "hello`id`"};
    auto r = resolve(names);
    for (const std::string& n : names) {
        ASSERT_TRUE(r.count(n)) << n;
        EXPECT_EQ(r[n].status, S::not_found) << n;
    }
    EXPECT_FALSE(fs::exists("/tmp/nixery-injected"));
}

TEST(ResolveImage, ClosureWithReferences)
{
    auto result =
        resolve_image(fixture(), request({"app", "hello"}), options());
    ASSERT_EQ(result.status, ResolveResult::Status::ok) << result.message;
    const Closure& c = result.closure;
    ASSERT_EQ(c.roots.size(), 2u);
    EXPECT_EQ(c.attributes, (std::vector<std::string>{"app", "hello"}));
    ASSERT_EQ(c.paths.size(), 3u); // app, hello, libfoo
    const StorePath* app = nullptr;
    for (const StorePath& p : c.paths) {
        EXPECT_GT(p.nar_size, 0u);
        if (p.path.ends_with("-app-1.0")) {
            app = &p;
        }
    }
    ASSERT_NE(app, nullptr);
    ASSERT_EQ(app->references.size(), 1u);
    EXPECT_TRUE(app->references[0].ends_with("-libfoo-1.0"));
    // The roots stay while the result lives, and go with it.
    ASSERT_TRUE(result.gc_roots);
    std::string dir = result.gc_roots->dir();
    EXPECT_TRUE(fs::is_symlink(dir + "/root") ||
                fs::is_symlink(dir + "/root-2"));
    result = {};
    EXPECT_FALSE(fs::exists(dir));
}

TEST(ResolveImage, AllUnknownPackagesListed)
{
    auto result = resolve_image(fixture(), request({"hello", "nope", "zilch"}),
                                options());
    EXPECT_EQ(result.status, ResolveResult::Status::not_found);
    EXPECT_EQ(result.unknown_packages,
              (std::vector<std::string>{"nope", "zilch"}));
    EXPECT_NE(result.message.find("nope, zilch"), std::string::npos);
    EXPECT_FALSE(result.gc_roots);
}

TEST(ResolveImage, EvaluationFailureNamesThePackage)
{
    auto result =
        resolve_image(fixture(), request({"broken", "hello"}), options());
    EXPECT_EQ(result.status, ResolveResult::Status::eval_failed);
    EXPECT_EQ(result.package, "broken");
    EXPECT_NE(result.message.find("marked as broken"), std::string::npos);
}

TEST(ResolveImage, BuildFailure)
{
    auto result =
        resolve_image(fixture(), request({"failing", "hello"}), options());
    EXPECT_EQ(result.status, ResolveResult::Status::build_failed);
    EXPECT_EQ(result.package, "failing");
    EXPECT_NE(result.message.find("failed with exit code 3"), std::string::npos)
        << result.message;
    EXPECT_FALSE(result.gc_roots);
    auto again = resolve_image(fixture(), request({"hello"}), options());
    EXPECT_EQ(again.status, ResolveResult::Status::ok) << again.message;
}

TEST(ResolveImage, BuildFailureNamesTheFailingPackageWhateverItsPlace)
{
    // The package that builds fine comes first in the request, so first
    // in nix-build's resolution line: the failure still names the one
    // whose builder failed, and the resolution line (every package's
    // store paths) stays out of the message clients see.
    auto result =
        resolve_image(fixture(), request({"hello", "failing"}), options());
    EXPECT_EQ(result.status, ResolveResult::Status::build_failed);
    EXPECT_EQ(result.package, "failing");
    EXPECT_EQ(result.message.find("nixery-resolution"), std::string::npos)
        << result.message;
    EXPECT_EQ(result.message.find("will be built"), std::string::npos)
        << result.message;
    EXPECT_NE(result.message.find("failed with exit code 3"), std::string::npos)
        << result.message;
}

TEST(ResolveImage, MegabyteOfBuildOutput)
{
    // Nix's stderr goes to the log line by line: catch it in a file.
    // Unique per process: concurrent test runs must not share the file.
    auto path = fs::temp_directory_path() /
                ("nixery-noisy-test." + std::to_string(::getpid()) + ".log");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    log::set_fd(fd);
    log::set_level(log::Level::debug);
    auto result = resolve_image(fixture(), request({"noisy"}), options());
    log::set_level(log::Level::info);
    log::set_fd(2);
    ::close(fd);
    EXPECT_EQ(result.status, ResolveResult::Status::ok) << result.message;
    EXPECT_EQ(result.closure.paths.size(), 1u);
    std::ifstream in(path);
    std::size_t noisy_lines = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.find(R"("source":"nix")") != line.npos &&
            line.find(std::string(90, 'x')) != line.npos) {
            ++noisy_lines;
        }
    }
    fs::remove(path);
    // 1 MiB in lines of 99 characters (Nix may prefix them).
    EXPECT_GE(noisy_lines, 1048576u / 99);
    auto again = resolve_image(fixture(), request({"hello"}), options());
    EXPECT_EQ(again.status, ResolveResult::Status::ok) << again.message;
}

TEST(ResolveImage, TimeoutThenHealthy)
{
    NixOptions o = options();
    o.timeout = std::chrono::seconds(5);
    auto result = resolve_image(fixture(), request({"sleeper"}), o);
    EXPECT_EQ(result.status, ResolveResult::Status::timeout);
    EXPECT_NE(result.message.find("5 s"), std::string::npos);
    // Nix stopped its builder: no sleeper is left behind (it may take a
    // moment to go).
    bool left = true;
    for (int i = 0; i < 100 && left; ++i) {
        left = false;
        for (const auto& e : fs::directory_iterator("/proc")) {
            // A process may exit while we read it (ESRCH): then it is gone.
            std::optional<std::string> cmd =
                read_small_file((e.path() / "cmdline").string(), 1 << 20);
            left =
                left || (cmd && cmd->find("nixery-test-sleeper-") != cmd->npos);
        }
        if (left) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    EXPECT_FALSE(left) << "the builder outlived the timeout";
    // The next request works as before.
    auto again = resolve_image(fixture(), request({"hello"}), options());
    EXPECT_EQ(again.status, ResolveResult::Status::ok) << again.message;
}

TEST(ResolveImage, Arm64WithoutAnArm64Builder)
{
    // The fixture describes aarch64 derivations, which this machine
    // cannot build: Nix's own message, naming the derivation.
    ImageRequest r = request({"hello"});
    r.arch = Arch::arm64;
    auto result = resolve_image(fixture(), r, options());
    EXPECT_EQ(result.status, ResolveResult::Status::build_failed);
    EXPECT_EQ(result.package, "hello");
    EXPECT_NE(result.message.find("aarch64-linux"), std::string::npos)
        << result.message;
    EXPECT_NE(result.message.find("hello-1.0.drv"), std::string::npos);
}

TEST(ResolveImage, BundledSetProvidesArm64)
{
    // The bundled set has aarch64-linux packages (docs/package-set.md):
    // hello and its glibc, other store paths than amd64's.
    PackageSource bundled{PackageSource::Type::path, here / "../../nix/pkgs"};
    ImageRequest r = request({"hello"});
    r.arch = Arch::arm64;
    auto arm = resolve_image(bundled, r, options());
    ASSERT_EQ(arm.status, ResolveResult::Status::ok) << arm.message;
    auto amd = resolve_image(bundled, request({"hello"}), options());
    ASSERT_EQ(amd.status, ResolveResult::Status::ok) << amd.message;
    ASSERT_EQ(arm.closure.roots.size(), 1u);
    EXPECT_EQ(store_path_name(arm.closure.roots[0]), "hello-2.10");
    EXPECT_NE(arm.closure.roots, amd.closure.roots);
    EXPECT_EQ(arm.closure.paths.size(), amd.closure.paths.size());
}

TEST(ResolveImage, MissingPackageSet)
{
    PackageSource none{PackageSource::Type::path, "/nonexistent/pkgs"};
    auto result = resolve_image(none, request({"hello"}), options());
    EXPECT_EQ(result.status, ResolveResult::Status::eval_failed);
    EXPECT_NE(result.message.find("cannot load the package set"),
              std::string::npos);
    EXPECT_NE(result.message.find("/nonexistent/pkgs"), std::string::npos)
        << result.message;
}

TEST(ResolveImage, OneNixCallThenTheStoreDatabase)
{
    // nix-build evaluates, realises and roots; the closure comes from the
    // store's database, the same as `nix path-info` says.
    auto request_ = request({"app", "hello", "multi.dev"});
    auto fast = resolve_image(fixture(), request_, options());
    ASSERT_EQ(fast.status, ResolveResult::Status::ok) << fast.message;
    EXPECT_EQ(fast.timings.nix_calls, 1);
    EXPECT_TRUE(fast.timings.closure_from_db);
    EXPECT_GT(fast.timings.evaluate.count(), 0);
    EXPECT_GT(fast.timings.realise.count(), 0);
    EXPECT_EQ(fast.packages.size(), 3u);
    ASSERT_TRUE(fast.gc_roots);
    EXPECT_TRUE(fs::is_symlink(fast.gc_roots->dir() + "/root-2"));

    NixOptions o = options();
    o.store_db = "";
    auto slow = resolve_image(fixture(), request_, o);
    ASSERT_EQ(slow.status, ResolveResult::Status::ok) << slow.message;
    EXPECT_EQ(slow.timings.nix_calls, 2);
    EXPECT_FALSE(slow.timings.closure_from_db);

    EXPECT_EQ(fast.closure.roots, slow.closure.roots);
    EXPECT_EQ(fast.closure.attributes,
              (std::vector<std::string>{"app", "hello", "multi.dev"}));
    EXPECT_EQ(fast.closure.attributes, slow.closure.attributes);
    ASSERT_EQ(fast.closure.paths.size(), slow.closure.paths.size());
    for (std::size_t i = 0; i < fast.closure.paths.size(); ++i) {
        const StorePath& a = fast.closure.paths[i];
        const StorePath& b = slow.closure.paths[i];
        EXPECT_EQ(a.path, b.path);
        EXPECT_EQ(a.nar_size, b.nar_size) << a.path;
        EXPECT_EQ(a.references, b.references) << a.path;
    }
}

TEST(ResolveImage, UncatchableErrorStillNamesThePackage)
{
    // nix-build stops before the resolution line: the diagnostics run.
    auto result =
        resolve_image(fixture(), request({"badeval", "hello"}), options());
    EXPECT_EQ(result.status, ResolveResult::Status::eval_failed);
    EXPECT_EQ(result.package, "badeval");
    EXPECT_NE(result.message.find("error:"), std::string::npos)
        << result.message;
    EXPECT_GT(result.timings.nix_calls, 1);
    EXPECT_FALSE(result.gc_roots);
}
