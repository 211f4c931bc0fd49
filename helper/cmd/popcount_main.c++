// nixery-popcount: the popularity file of a package set (popcount.h).
// docs/package-set.md describes the flags (nixery-popcount --help lists
// them).
//
// Lists the set's packages (nix/packages.nix), realises them, takes the
// closure graph from `nix path-info --json -r` and writes {"name": count}
// to FILE (atomically) or stdout. The source defaults to Nixery's
// environment variables, as for the helper.
#include "base/log.h"
#include "base/process.h"
#include "cmd/flags.h"
#include "image/popcount.h"
#include "json.h"
#include "nix/package_source.h"
#include "nix/store.h"

#include <jansson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace nixery;

namespace {

ProcessResult must_run(const std::vector<std::string>& argv,
                       std::chrono::seconds timeout)
{
    ProcessOptions po;
    po.timeout = timeout;
    ProcessResult r = run_process(argv, po);
    if (r.timed_out) {
        throw std::runtime_error(argv.front() + " timed out");
    }
    if (!r.ok()) {
        throw std::runtime_error(argv.front() +
                                 " failed: " + nix_error_message(r.err_tail));
    }
    return r;
}

// What the command line asks for.
struct PopcountFlags {
    SourceSettings source;
    std::string tag = "latest";
    std::string nix_dir;
    std::string roots_dir;
    std::string out_file;
    std::chrono::seconds timeout{1800};
};

PopcountFlags parse_flags(int argc, char** argv)
{
    PopcountFlags f;
    const char* env_dir = std::getenv("NIXERY_NIX_DIR");
    f.nix_dir = env_dir ? env_dir : "nix";
    f.roots_dir = std::filesystem::temp_directory_path() / "nixery-gcroots";
    cmd::Flags flags("nixery-popcount", "[options]");
    flags
        .text("--channel", &f.source.channel, "REF",
              "package source: a nixpkgs branch or commit")
        .text("--pkgs-repo", &f.source.pkgs_repo, "URL",
              "package source: a git repository")
        .text("--pkgs-path", &f.source.pkgs_path, "DIR",
              "package source: a local package set (first given of\n"
              "the three wins; else NIXERY_CHANNEL > NIXERY_PKGS_REPO\n"
              "> NIXERY_PKGS_PATH)")
        .text("--tag", &f.tag, "TAG", "the source's tag (default latest)")
        .text("--nix-dir", &f.nix_dir, "DIR",
              "the project's nix/ expressions (default\n"
              "$NIXERY_NIX_DIR or ./nix)")
        .text("--gc-roots", &f.roots_dir, "DIR",
              "GC roots held while counting (default\n"
              "$TMPDIR/nixery-gcroots)")
        .number("--build-timeout", &f.timeout, 1, "S",
                "each Nix call, seconds (default 1800)")
        .alias("--timeout", "--build-timeout")
        .text("--out", &f.out_file, "FILE",
              "write the JSON here, atomically (default stdout)");
    flags.parse_or_exit(argc, argv);
    return f;
}

// The set's packages from nix/packages.nix: their derivations and outputs.
void list_packages(const PopcountFlags& f, const RenderedSource& src,
                   std::set<std::string>& drvs, std::set<std::string>& outputs)
{
    ProcessResult listed = must_run(
        {"nix-instantiate", "--eval", "--read-write-mode", "--strict", "--json",
         std::filesystem::absolute(f.nix_dir + "/packages.nix"), "--argstr",
         "srcType", src.type, "--argstr", "srcArgs", src.args, "--argstr",
         "system", "x86_64-linux"},
        f.timeout);
    JsonPtr list(json_loadb(listed.out.data(), listed.out.size(), 0, nullptr));
    if (!list || !json_is_array(list.get())) {
        throw std::runtime_error("packages.nix: bad JSON");
    }
    std::size_t i;
    json_t* e;
    json_array_foreach(list.get(), i, e)
    {
        const char* drv = json_string_value(json_object_get(e, "drvPath"));
        const char* out = json_string_value(json_object_get(e, "outputPath"));
        if (drv && out) {
            drvs.insert(drv);
            outputs.insert(out);
        }
    }
    if (drvs.empty()) {
        throw std::runtime_error("the package set has no packages");
    }
}

// Written beside, then renamed: readers see the old or the new.
void write_atomically(const std::string& file, const std::string& text)
{
    std::string tmp = file + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << text;
        f.flush();
        if (!f) {
            throw std::runtime_error("cannot write " + tmp);
        }
    }
    std::filesystem::rename(tmp, file);
}

int run(int argc, char** argv)
{
    PopcountFlags f = parse_flags(argc, argv);
    RenderedSource src = render_source(
        choose_package_source(f.source, source_settings_from_env()), f.tag);

    std::set<std::string> drvs, outputs;
    list_packages(f, src, drvs, outputs);
    GcRoots roots(f.roots_dir);
    must_run(realise_argv({drvs.begin(), drvs.end()}, roots), f.timeout);
    ProcessResult info =
        must_run(path_info_argv({outputs.begin(), outputs.end()}), f.timeout);
    auto paths = parse_path_info(info.out);
    std::string json = popularity_json(popularity_counts(paths));
    log::info("popularity computed",
              {{"packages", drvs.size()}, {"paths", paths.size()}});
    if (f.out_file.empty()) {
        std::fputs(json.c_str(), stdout);
    } else {
        write_atomically(f.out_file, json);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "nixery-popcount: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nixery-popcount: %s\n", e.what());
        return 1;
    }
}
