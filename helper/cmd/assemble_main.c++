// nixery-assemble: assemble one image from a closure file into a storage
// root, without Nix or Redis. For tests, benchmarks and operators who want
// to publish an image built elsewhere. docs/images.md describes the input.
//
//   nixery-assemble --storage DIR --closure FILE --name NAME [--tag TAG]
//                   [--root PATH]... [--attribute ATTR]...
//                   [--store-prefix DIR] [--budget N] [--threads N]
//                   [--popularity FILE|URL] [--expires UNIX_SECONDS]
//
// Prints {"key":...,"docker":"sha256:...","oci":"sha256:..."} on success;
// exits 1 with a JSON log line on stderr on failure, 2 on bad usage.
#include "base/log.h"
#include "image/assemble.h"
#include "image/popularity.h"
#include "nix/closure_json.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

using namespace nixery;

[[noreturn]] void usage(const char* why)
{
    std::fprintf(
        stderr,
        "nixery-assemble: %s\n"
        "usage: nixery-assemble --storage DIR --closure FILE --name NAME\n"
        "         [--tag TAG] [--root PATH]... [--attribute ATTR]...\n"
        "         [--store-prefix DIR] [--budget N] [--threads N]\n"
        "         [--popularity FILE|URL] [--expires UNIX_SECONDS]\n",
        why);
    std::exit(2);
}

std::uint64_t number(const char* s, const char* what)
{
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || *s == '-') {
        usage(what);
    }
    return v;
}

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

int run(int argc, char** argv)
{
    AssembleOptions options;
    std::string closure_file, name, tag = "latest", popularity_source;
    std::vector<std::string> roots, attributes;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc) {
            usage("missing value after an option");
        }
        const char* v = argv[++i];
        if (a == "--storage") {
            options.storage_root = v;
        } else if (a == "--closure") {
            closure_file = v;
        } else if (a == "--name") {
            name = v;
        } else if (a == "--tag") {
            tag = v;
        } else if (a == "--root") {
            roots.emplace_back(v);
        } else if (a == "--attribute") {
            attributes.emplace_back(v);
        } else if (a == "--store-prefix") {
            options.store_prefix = v;
        } else if (a == "--budget") {
            options.layer_budget = number(v, "bad --budget");
        } else if (a == "--threads") {
            options.threads = static_cast<unsigned>(number(v, "bad --threads"));
        } else if (a == "--popularity") {
            popularity_source = v;
        } else if (a == "--expires") {
            options.expires =
                static_cast<std::int64_t>(number(v, "bad --expires"));
        } else {
            usage("unknown option");
        }
    }
    if (options.storage_root.empty() || closure_file.empty() || name.empty()) {
        usage("--storage, --closure and --name are required");
    }
    ParseResult parsed = parse_image_request(name, tag);
    if (parsed.error != NameError::none) {
        throw std::runtime_error("bad image name or tag: " + parsed.message);
    }
    Closure closure = parse_closure_json(slurp(closure_file));
    if (!roots.empty()) {
        std::sort(roots.begin(), roots.end());
        closure.roots = roots;
    }
    if (!attributes.empty()) {
        closure.attributes = attributes;
    }
    Popularity popularity = load_popularity(popularity_source);
    options.popularity = &popularity;
    IndexEntry e = assemble_image(parsed.request, closure, options);
    std::printf("{\"key\":\"%s\",\"docker\":\"sha256:%s\",\"docker_size\":%llu,"
                "\"oci\":\"sha256:%s\",\"oci_size\":%llu}\n",
                canonical_key(parsed.request).c_str(), e.docker_hex.c_str(),
                static_cast<unsigned long long>(e.docker_size),
                e.oci_hex.c_str(), static_cast<unsigned long long>(e.oci_size));
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
