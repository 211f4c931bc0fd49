// What the queue consumer asks of an image builder, and a fake builder.
//
// The daemon (daemon.h) takes jobs off the queue and hands each request to
// a Builder, which publishes the image into storage (index entry last) and
// says how it went. The real builder (nix_builder.h) is Nix resolution plus
// image assembly; unit and integration tests of the queue use the
// fake builder below, so the queue's guarantees are proven without Nix.
#pragma once

#include "errors.h"
#include "image_request.h"
#include "storage/storage.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery::queue {

struct BuildOutcome {
    enum class Status { ok, not_found, failed };
    Status status = Status::ok;
    std::vector<std::string> unknown; // not_found: every unknown package
    std::string message;              // failed: a one-line summary
    std::string detail;               // failed: the builder's (Nix's) words
    // failed: the registry error the clients get. UNKNOWN (500) for the
    // registry's own failures; MANIFEST_UNKNOWN (404) when the request
    // asks for what the package set cannot provide (a package that is
    // broken, unfree, for another system...): no retry will change that.
    ErrorCode code = ErrorCode::unknown;
};

struct BuildContext {
    std::string job_id; // the stream entry id, for logs
    // Unix time at which the index entry expires; 0 = never (pinned).
    std::int64_t expires = 0;
    // Reports the build's phase for the build page (progress.h): "building"
    // layer `layer` of `layers`, then "publishing". May be empty; called
    // from any thread.
    std::function<void(std::string_view phase, std::size_t layer,
                       std::size_t layers)>
        progress;
};

// Builds and publishes one image. May throw: the daemon turns an exception
// into a failed result.
using Builder =
    std::function<BuildOutcome(const ImageRequest&, const BuildContext&)>;

// The test aid behind `nixery-helper --fake-builder DIR`. For any request it
// publishes a small made-up image (real blobs, manifests and index entry in
// the storage layout, not a runnable image) and appends one line
// "<key> <name>:<tag>\n" to DIR/builds, so tests can count builds. Packages
// whose names start with "missing" are reported unknown (all of them);
// one starting with "broken" fails with a Nix-like message. Each build
// first sleeps `delay`.
struct FakeBuilderOptions {
    std::string dir;
    std::chrono::milliseconds delay{0};
};
// Publishes into `storage`, which outlives the builder.
Builder make_fake_builder(FakeBuilderOptions options, Storage& storage);

} // namespace nixery::queue
