// nixery-resolve: resolve an image name against a package set and print
// what Nix says as JSON, for operators and tests (docs/nix.md).
//
//   nixery-resolve [source] [options] NAME
//
// Source: --channel REF | --pkgs-repo URL | --pkgs-path DIR, else Nixery's
// NIXERY_CHANNEL > NIXERY_PKGS_REPO > NIXERY_PKGS_PATH.
// Options: --tag TAG (default latest), --nix-dir DIR (default
// $NIXERY_NIX_DIR or ./nix), --gc-roots DIR, --timeout SECONDS,
// --eval-only (resolve names, build nothing), --raw (NAME is one Nix
// package name taken verbatim; repeatable via several NAMEs; with --arm64
// for aarch64-linux). Exit status: 0 resolved, 1 a Nix-side failure (the
// JSON says which), 2 bad usage.
#include "base/log.h"
#include "image_request.h"
#include "json.h"
#include "nix/resolve.h"

#include <jansson.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

using namespace nixery;

namespace {

int usage(const char* why)
{
    std::fprintf(stderr,
                 "nixery-resolve: %s\n"
                 "usage: nixery-resolve [--channel REF | --pkgs-repo URL | "
                 "--pkgs-path DIR] [--tag TAG] [--nix-dir DIR]\n"
                 "       [--gc-roots DIR] [--timeout SECONDS] [--eval-only] "
                 "[--raw [--arm64]] NAME...\n",
                 why);
    return 2;
}

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

int run(int argc, char** argv)
{
    SourceSettings flags;
    std::string tag = "latest";
    NixOptions options;
    const char* nix_dir = std::getenv("NIXERY_NIX_DIR");
    options.nix_dir = nix_dir ? nix_dir : "nix";
    bool eval_only = false;
    bool raw = false;
    bool arm64 = false;
    std::vector<std::string> names;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw std::invalid_argument(a + " needs a value");
            }
            return argv[++i];
        };
        if (a == "--channel") {
            flags.channel = value();
        } else if (a == "--pkgs-repo") {
            flags.pkgs_repo = value();
        } else if (a == "--pkgs-path") {
            flags.pkgs_path = value();
        } else if (a == "--tag") {
            tag = value();
        } else if (a == "--nix-dir") {
            options.nix_dir = value();
        } else if (a == "--gc-roots") {
            options.gc_roots_dir = value();
        } else if (a == "--timeout") {
            options.timeout = std::chrono::seconds(std::stol(value()));
        } else if (a == "--eval-only") {
            eval_only = true;
        } else if (a == "--raw") {
            raw = true;
        } else if (a == "--arm64") {
            arm64 = true;
        } else if (a == "--") {
            names.insert(names.end(), argv + i + 1, argv + argc);
            break;
        } else if (a.starts_with("--")) {
            return usage(("unknown option " + a).c_str());
        } else {
            names.push_back(a);
        }
    }
    if (names.empty() || (!raw && names.size() != 1)) {
        return usage("give one image name (or --raw package names)");
    }
    PackageSource source =
        choose_package_source(flags, source_settings_from_env());

    ImageRequest request;
    if (raw) {
        request.name = "(raw)";
        request.tag = tag;
        request.arch = arm64 ? Arch::arm64 : Arch::amd64;
        request.packages = names;
    } else {
        ParseResult parsed = parse_image_request(names.front(), tag);
        if (parsed.error != NameError::none) {
            return usage(parsed.message.c_str());
        }
        request = parsed.request;
    }

    ResolveResult result;
    if (eval_only) {
        result.packages =
            resolve_packages(source, request.tag, nix_system(request.arch),
                             request.packages, options, &result);
    } else {
        result = resolve_image(source, request, options);
    }

    json_t* out = json_object();
    set(out, "status", std::string(status_name(result.status)));
    set(out, "package", result.package);
    set(out, "message", result.message);
    json_object_set_new(out, "unknown", strings(result.unknown_packages));
    json_object_set_new(out, "packages", resolution_json(result.packages));
    if (result.status == ResolveResult::Status::ok && !eval_only) {
        json_object_set_new(out, "closure", closure_json(result.closure));
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
        return usage(e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nixery-resolve: %s\n", e.what());
        return 1;
    }
}
