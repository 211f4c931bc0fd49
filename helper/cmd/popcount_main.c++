// nixery-popcount: the popularity file of a package set (popcount.h).
//
//   nixery-popcount [--channel REF | --pkgs-repo URL | --pkgs-path DIR]
//                   [--tag TAG] [--nix-dir DIR] [--gc-roots DIR]
//                   [--timeout SECONDS] [--out FILE]
//
// Lists the set's packages (nix/packages.nix), realises them, takes the
// closure graph from `nix path-info --json -r` and writes {"name": count}
// to FILE (atomically) or stdout. The source defaults to Nixery's
// environment variables, as for the helper.
#include "base/log.h"
#include "base/process.h"
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

int run(int argc, char** argv)
{
    SourceSettings flags;
    std::string tag = "latest";
    const char* env_dir = std::getenv("NIXERY_NIX_DIR");
    std::string nix_dir = env_dir ? env_dir : "nix";
    std::string roots_dir =
        std::filesystem::temp_directory_path() / "nixery-gcroots";
    std::string out_file;
    std::chrono::seconds timeout{1800};
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            throw std::invalid_argument("unknown or incomplete option " + a);
        }
        std::string v = argv[++i];
        if (a == "--channel") {
            flags.channel = v;
        } else if (a == "--pkgs-repo") {
            flags.pkgs_repo = v;
        } else if (a == "--pkgs-path") {
            flags.pkgs_path = v;
        } else if (a == "--tag") {
            tag = v;
        } else if (a == "--nix-dir") {
            nix_dir = v;
        } else if (a == "--gc-roots") {
            roots_dir = v;
        } else if (a == "--timeout") {
            timeout = std::chrono::seconds(std::stol(v));
        } else if (a == "--out") {
            out_file = v;
        } else {
            throw std::invalid_argument("unknown option " + a);
        }
    }
    RenderedSource src = render_source(
        choose_package_source(flags, source_settings_from_env()), tag);

    ProcessResult listed = must_run(
        {"nix-instantiate", "--eval", "--read-write-mode", "--strict", "--json",
         std::filesystem::absolute(nix_dir + "/packages.nix"), "--argstr",
         "srcType", src.type, "--argstr", "srcArgs", src.args, "--argstr",
         "system", "x86_64-linux"},
        timeout);
    JsonPtr list(json_loadb(listed.out.data(), listed.out.size(), 0, nullptr));
    if (!list || !json_is_array(list.get())) {
        throw std::runtime_error("packages.nix: bad JSON");
    }
    std::set<std::string> drvs, outputs;
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
    GcRoots roots(roots_dir);
    must_run(realise_argv({drvs.begin(), drvs.end()}, roots), timeout);
    ProcessResult info =
        must_run(path_info_argv({outputs.begin(), outputs.end()}), timeout);
    auto paths = parse_path_info(info.out);
    std::string json = popularity_json(popularity_counts(paths));
    log::info("popularity computed",
              {{"packages", drvs.size()}, {"paths", paths.size()}});
    if (out_file.empty()) {
        std::fputs(json.c_str(), stdout);
    } else {
        // Written beside, then renamed: readers see the old or the new.
        std::string tmp = out_file + ".tmp";
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            f << json;
            f.flush();
            if (!f) {
                throw std::runtime_error("cannot write " + tmp);
            }
        }
        std::filesystem::rename(tmp, out_file);
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
