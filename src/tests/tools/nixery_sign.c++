// nixery-sign: prints GCS V4 signed URLs made by gcs_sign.h, one line per
// object name, so that t/050-gcs-sign-client.t can compare them with
// Google's own client library.
//
//   nixery-sign --key FILE --bucket B --time EPOCH --expires SECONDS
//               [--method GET] [--endpoint URL] [--style path|virtual|bound]
//               OBJECT...
#include "gcs_sign.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void usage(const std::string& why)
{
    std::fprintf(stderr,
                 "nixery-sign: %s\n"
                 "usage: nixery-sign --key FILE --bucket B --time EPOCH "
                 "--expires SECONDS [--method M] [--endpoint URL] "
                 "[--style path|virtual|bound] OBJECT...\n",
                 why.c_str());
    std::exit(2);
}

long long number(std::string_view flag, const std::string& s)
{
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0') {
        usage(std::string(flag) + " wants a number");
    }
    return v;
}

} // namespace

int main(int argc, char** argv)
{
    std::string key;
    nixery::GcsUrlRequest request;
    std::vector<std::string> objects;
    bool have_time = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage(std::string(a) + " wants a value");
            }
            return argv[++i];
        };
        if (a == "--key") {
            key = value();
        } else if (a == "--bucket") {
            request.bucket = value();
        } else if (a == "--time") {
            request.now = static_cast<std::time_t>(number(a, value()));
            have_time = true;
        } else if (a == "--expires") {
            request.expires = number(a, value());
        } else if (a == "--method") {
            request.method = value();
        } else if (a == "--endpoint") {
            request.endpoint = value();
        } else if (a == "--style") {
            std::string s = value();
            if (s == "path") {
                request.style = nixery::GcsUrlStyle::path;
            } else if (s == "virtual") {
                request.style = nixery::GcsUrlStyle::virtual_hosted;
            } else if (s == "bound") {
                request.style = nixery::GcsUrlStyle::bucket_bound;
            } else {
                usage("--style is path, virtual or bound");
            }
        } else if (a == "--") {
            objects.insert(objects.end(), argv + i + 1, argv + argc);
            break;
        } else if (a.starts_with("--")) {
            usage("unknown flag " + std::string(a));
        } else {
            objects.emplace_back(a);
        }
    }
    if (key.empty() || !have_time || objects.empty()) {
        usage("--key, --time and an object are required");
    }
    try {
        auto signer = nixery::GcsSigner::from_key_file(key);
        for (const auto& object : objects) {
            request.object = object;
            std::printf("%s\n",
                        nixery::gcs_signed_url(signer, request).url.c_str());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nixery-sign: %s\n", e.what());
        return 1;
    }
    return 0;
}
