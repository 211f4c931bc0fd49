// nixery-assemble: assemble one image from a closure file into a storage
// root, without Nix (and without Redis unless the collection lock is the
// Redis one: --gc-lock redis, storage_setup.h). For tests, benchmarks and
// operators who want to publish an image built elsewhere. docs/images.md
// describes the input and the flags (nixery-assemble --help lists them).
//
// Prints {"key":...,"docker":"sha256:...","oci":"sha256:..."} on success
// (and "docker_list", "oci_index" for an image of several platforms,
// --platform-closure); exits 1 with a JSON log line on stderr on failure,
// 2 on bad usage.
#include "base/log.h"
#include "cmd/flags.h"
#include "cmd/layering_flag.h"
#include "cmd/storage_setup.h"
#include "image/assemble.h"
#include "image/image_index.h"
#include "image/popularity.h"
#include "nix/closure_json.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

using namespace nixery;

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    std::ostringstream out;
    out << in.rdbuf();
    return std::move(out).str();
}

// What the command line asks for.
struct Request {
    AssembleOptions options;
    cmd::StorageFlags storage;
    std::string closure_file, name, tag = "latest", popularity_source, layering;
    std::vector<std::string> roots, attributes;
    // "PLATFORM=FILE": another platform's closure (the image index).
    std::vector<std::string> platform_closures;
};

Request parse_flags(int argc, char** argv)
{
    Request r;
    AssembleOptions& o = r.options;
    cmd::Flags flags(
        "nixery-assemble", "--storage DIR --closure FILE --name NAME [options]",
        "environment: NIXERY_REDIS_PASSWORD (and NIXERY_REDIS_USER) for Redis "
        "AUTH;\nNIXERY_LAYERING for --layering\n");
    flags
        .text("--storage", &r.storage.storage, "DIR",
              "storage root (or NIXERY_STORAGE_BACKEND: a bucket)")
        .text("--closure", &r.closure_file, "FILE",
              "closure JSON (docs/images.md; required)")
        .text("--name", &r.name, "NAME", "image name (required)")
        .text("--tag", &r.tag, "TAG", "image tag (default latest)")
        .list("--platform-closure", &r.platform_closures, "PLATFORM=FILE",
              "also build for PLATFORM (linux/arm64) from FILE,\n"
              "with an image index naming both (repeatable;\n"
              "--closure is linux/amd64's)")
        .list("--root", &r.roots, "PATH",
              "a requested store path (repeatable; default the\n"
              "closure's roots)")
        .list("--attribute", &r.attributes, "ATTR",
              "a requested attribute (repeatable; default the\n"
              "closure's attributes)")
        .text("--store-prefix", &o.store_prefix, "DIR",
              "read /nix/store/X from DIR/nix/store/X")
        .number("--layer-budget", &o.layer_budget, 0, "N",
                "store-path layers per image (default 94)")
        .alias("--budget", "--layer-budget")
        .number("--threads", &o.threads, 0, "N",
                "compression threads (default 0: one per core)")
        .text("--popularity", &r.popularity_source, "FILE|URL",
              "package popularity JSON for layering")
        .number("--expires", &o.expires, 0, "UNIX_SECONDS",
                "when the index entry expires (default 0: never)");
    cmd::add_layering_flag(flags, &r.layering);
    cmd::add_lock_flags(flags, &r.storage, true);
    flags.parse_or_exit(argc, argv);
    o.layering = cmd::layering_or_fail(flags, r.layering);
    if (r.closure_file.empty() || r.name.empty()) {
        flags.fail("--closure and --name are required");
    }
    cmd::check_storage_flags(flags, r.storage);
    return r;
}

int run(int argc, char** argv)
{
    Request r = parse_flags(argc, argv);
    ParseResult parsed = parse_image_request(r.name, r.tag);
    if (parsed.error != NameError::none) {
        throw std::runtime_error("bad image name or tag: " + parsed.message);
    }
    std::sort(r.roots.begin(), r.roots.end());
    auto load = [&](const std::string& file) {
        Closure c = parse_closure_json(slurp(file));
        if (!r.roots.empty()) {
            c.roots = r.roots;
        }
        if (!r.attributes.empty()) {
            c.attributes = r.attributes;
        }
        return c;
    };
    Closure closure = load(r.closure_file);
    // The other platforms, in the order parse_platforms() gives them.
    std::vector<std::pair<Arch, Closure>> others;
    std::string platforms = "linux/amd64";
    for (const std::string& pc : r.platform_closures) {
        auto eq = pc.find('=');
        if (eq == pc.npos) {
            throw std::runtime_error("--platform-closure: PLATFORM=FILE, not " +
                                     pc);
        }
        platforms += "," + pc.substr(0, eq);
    }
    std::vector<Arch> archs = parse_platforms(platforms);
    if (archs.size() > 1 && parsed.request.arch != Arch::amd64) {
        throw std::runtime_error(
            "--platform-closure: the name is a single platform's (arm64/...)");
    }
    for (const std::string& pc : r.platform_closures) {
        auto eq = pc.find('=');
        others.emplace_back(parse_platforms(pc.substr(0, eq) + ",amd64").back(),
                            load(pc.substr(eq + 1)));
    }
    Popularity popularity = load_popularity(r.popularity_source);
    r.options.popularity = &popularity;
    cmd::set_redis_auth_from_env();
    std::unique_ptr<Storage> storage = cmd::open_storage(r.storage);
    std::unique_ptr<CollectionLock> lock =
        cmd::open_collection_lock(r.storage, *storage);
    IndexEntry e;
    if (others.empty()) {
        e = assemble_image(*storage, *lock, parsed.request, closure, r.options);
    } else {
        std::vector<PlatformBuild> builds{{Arch::amd64, &closure, {}}};
        for (const auto& [arch, c] : others) {
            builds.push_back({arch, &c, {}});
        }
        e = assemble_platforms(*storage, *lock, parsed.request, builds,
                               r.options);
    }
    std::printf("{\"key\":\"%s\",\"docker\":\"sha256:%s\",\"docker_size\":%llu,"
                "\"oci\":\"sha256:%s\",\"oci_size\":%llu",
                canonical_key(parsed.request).c_str(), e.docker_hex.c_str(),
                static_cast<unsigned long long>(e.docker_size),
                e.oci_hex.c_str(), static_cast<unsigned long long>(e.oci_size));
    if (e.has_lists()) {
        std::printf(",\"docker_list\":\"sha256:%s\",\"docker_list_size\":%llu,"
                    "\"oci_index\":\"sha256:%s\",\"oci_index_size\":%llu",
                    e.docker_list_hex.c_str(),
                    static_cast<unsigned long long>(e.docker_list_size),
                    e.oci_index_hex.c_str(),
                    static_cast<unsigned long long>(e.oci_index_size));
    }
    std::printf("}\n");
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        nixery::log::error("assembly failed", {{"error", e.what()}});
        return 1;
    }
}
