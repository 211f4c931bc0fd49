// nixery-resolve: resolve an image name against a package set and print
// what Nix says as JSON, for operators and tests (docs/nix.md describes
// the flags; nixery-resolve --help lists them).
//
//   nixery-resolve [options] NAME
//   nixery-resolve [options] --raw [--arm64] PACKAGE...
//
// Exit status: 0 resolved, 1 a Nix-side failure (the JSON says which), 2
// bad usage.
#include "base/log.h"
#include "cmd/flags.h"
#include "image_request.h"
#include "json.h"
#include "nix/resolve.h"

#include <jansson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

using namespace nixery;

namespace {

json_t* strings(const std::vector<std::string>& v)
{
    json_t* a = json_array();
    for (const std::string& s : v) {
        json_array_append_new(a, json_stringn(s.data(), s.size()));
    }
    return a;
}

void set(json_t* o, const char* k, const std::string& v)
{
    json_t* s = json_stringn(v.data(), v.size());
    json_object_set_new(o, k, s ? s : json_string("(not UTF-8)"));
}

json_t* resolution_json(const std::vector<PackageResolution>& list)
{
    json_t* a = json_array();
    for (const PackageResolution& p : list) {
        json_t* o = json_object();
        set(o, "name", p.name);
        switch (p.status) {
        case PackageResolution::Status::found:
            set(o, "status", "found");
            set(o, "attrPath", p.attr_path);
            set(o, "outputPath", p.output_path);
            set(o, "drvPath", p.drv_path);
            set(o, "outputName", p.output_name);
            break;
        case PackageResolution::Status::not_found:
            set(o, "status", "not_found");
            break;
        case PackageResolution::Status::failed:
            set(o, "status", "failed");
            set(o, "reason", p.reason);
            set(o, "attrPath", p.attr_path);
            set(o, "message", p.message);
            json_object_set_new(o, "candidates", strings(p.candidates));
            break;
        }
        json_array_append_new(a, o);
    }
    return a;
}

json_t* closure_json(const Closure& c)
{
    json_t* o = json_object();
    json_object_set_new(o, "roots", strings(c.roots));
    json_object_set_new(o, "attributes", strings(c.attributes));
    json_t* paths = json_array();
    for (const StorePath& p : c.paths) {
        json_t* e = json_object();
        set(e, "path", p.path);
        json_object_set_new(e, "narSize", json_integer(json_int_t(p.nar_size)));
        json_object_set_new(e, "references", strings(p.references));
        json_array_append_new(paths, e);
    }
    json_object_set_new(o, "paths", paths);
    return o;
}

// What the command line asks for.
struct ResolveFlags {
    SourceSettings source;
    std::string tag = "latest";
    NixOptions options;
    bool eval_only = false;
    bool raw = false;
    bool arm64 = false;
    std::vector<std::string> names;
};

cmd::Flags declare_flags(ResolveFlags& f)
{
    cmd::Flags flags("nixery-resolve",
                     "[options] NAME | [options] --raw [--arm64] PACKAGE...");
    flags
        .text("--channel", &f.source.channel, "REF",
              "package source: a nixpkgs branch or commit")
        .text("--pkgs-repo", &f.source.pkgs_repo, "URL",
              "package source: a git repository")
        .text("--pkgs-path", &f.source.pkgs_path, "DIR",
              "package source: a local package set (first given of\n"
              "the three wins; else NIXERY_CHANNEL > NIXERY_PKGS_REPO\n"
              "> NIXERY_PKGS_PATH)")
        .text("--tag", &f.tag, "TAG", "image tag (default latest)")
        .text("--nix-dir", &f.options.nix_dir, "DIR",
              "the project's nix/ expressions (default\n"
              "$NIXERY_NIX_DIR or ./nix)")
        .text("--gc-roots", &f.options.gc_roots_dir, "DIR",
              "GC roots held while building (default\n"
              "$TMPDIR/nixery-gcroots)")
        .number("--build-timeout", &f.options.timeout, 1, "S",
                "whole Nix call, seconds (default 600)")
        .alias("--timeout", "--build-timeout")
        .toggle("--eval-only", &f.eval_only, "resolve names, build nothing")
        .toggle("--raw", &f.raw,
                "the operands are Nix package names, taken verbatim")
        .toggle("--arm64", &f.arm64, "with --raw: for aarch64-linux")
        .operands(&f.names);
    return flags;
}

// The request the operands name: an image name, or raw package names.
ImageRequest request_from(const ResolveFlags& f, const cmd::Flags& flags)
{
    if (f.names.empty() || (!f.raw && f.names.size() != 1)) {
        flags.fail("give one image name (or --raw package names)");
    }
    if (f.raw) {
        ImageRequest request;
        request.name = "(raw)";
        request.tag = f.tag;
        request.arch = f.arm64 ? Arch::arm64 : Arch::amd64;
        request.packages = f.names;
        return request;
    }
    ParseResult parsed = parse_image_request(f.names.front(), f.tag);
    if (parsed.error != NameError::none) {
        flags.fail(parsed.message);
    }
    return parsed.request;
}

int run(int argc, char** argv)
{
    ResolveFlags f;
    const char* nix_dir = std::getenv("NIXERY_NIX_DIR");
    f.options.nix_dir = nix_dir ? nix_dir : "nix";
    cmd::Flags flags = declare_flags(f);
    flags.parse_or_exit(argc, argv);
    ImageRequest request = request_from(f, flags);
    PackageSource source =
        choose_package_source(f.source, source_settings_from_env());
    NixOptions& options = f.options;
    bool eval_only = f.eval_only;

    ResolveResult result;
    const auto start = std::chrono::steady_clock::now();
    if (eval_only) {
        result.packages =
            resolve_packages(source, request.tag, nix_system(request.arch),
                             request.packages, options, &result);
    } else {
        result = resolve_image(source, request, options);
    }
    // The whole resolution, as the helper pays it (without this program's
    // own start).
    const auto took = std::chrono::steady_clock::now() - start;

    json_t* out = json_object();
    set(out, "status", std::string(status_name(result.status)));
    set(out, "package", result.package);
    set(out, "message", result.message);
    json_object_set_new(out, "unknown", strings(result.unknown_packages));
    json_object_set_new(out, "packages", resolution_json(result.packages));
    if (result.status == ResolveResult::Status::ok && !eval_only) {
        json_object_set_new(out, "closure", closure_json(result.closure));
    }
    if (!eval_only) {
        // Where the time went (the bench reads it).
        const ResolveTimings& t = result.timings;
        json_object_set_new(out, "timings",
                            json_pack("{s:f,s:f,s:f,s:f,s:i,s:s}", "totalMs",
                                      milliseconds(took), "evaluateMs",
                                      milliseconds(t.evaluate), "realiseMs",
                                      milliseconds(t.realise), "closureMs",
                                      milliseconds(t.closure), "nixCalls",
                                      t.nix_calls, "closureFrom",
                                      t.closure_from_db ? "database" : "nix"));
    }
    std::string text = json_dump(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(out);
    std::fputs(text.c_str(), stdout);
    std::fputc('\n', stdout);
    return result.status == ResolveResult::Status::ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        if (const char* level = std::getenv("NIXERY_LOG_LEVEL");
            level && std::strcmp(level, "debug") == 0) {
            log::set_level(log::Level::debug);
        }
        return run(argc, argv);
    } catch (const std::invalid_argument& e) {
        // No package source, or one Nix cannot be given: bad usage.
        std::fprintf(stderr, "nixery-resolve: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nixery-resolve: %s\n", e.what());
        return 1;
    }
}
