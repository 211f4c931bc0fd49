#include "queue/nix_builder.h"

#include "base/log.h"
#include "image/image_index.h"
#include "queue/metrics.h"

#include <chrono>

#include <ctime>
#include <memory>
#include <optional>

namespace nixery {

namespace {

std::string culprit(const ResolveResult& r)
{
    return r.package.empty() ? std::string("the package set")
                             : "'" + r.package + "'";
}

// At most `max` bytes of `s`, cut before a UTF-8 continuation byte, with
// "..." when cut.
std::string utf8_prefix(const std::string& s, std::size_t max)
{
    if (s.size() <= max) {
        return s;
    }
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
    }
    return s.substr(0, n) + "...";
}

// The outcome of a resolution that did not succeed.
queue::BuildOutcome failed_outcome(const ResolveResult& r,
                                   const std::string& tag)
{
    queue::BuildOutcome out;
    switch (r.status) {
    case ResolveResult::Status::ok:
        break;
    case ResolveResult::Status::not_found:
        out.status = queue::BuildOutcome::Status::not_found;
        out.unknown = r.unknown_packages;
        out.message = r.message;
        break;
    case ResolveResult::Status::eval_failed:
        out.status = queue::BuildOutcome::Status::failed;
        out.message = "Nix could not evaluate " + culprit(r);
        out.detail = r.message;
        if (!r.package.empty()) {
            // A package of the request, not the set or Nix, failed:
            // the client's error, and clients show only the message.
            out.code = ErrorCode::manifest_unknown;
            out.message += ": " + utf8_prefix(r.message, 300);
        }
        break;
    case ResolveResult::Status::build_failed:
        out.status = queue::BuildOutcome::Status::failed;
        out.message = "Nix could not build " + culprit(r);
        out.detail = r.message;
        break;
    case ResolveResult::Status::timeout:
        out.status = queue::BuildOutcome::Status::failed;
        out.message = "Nix timed out";
        out.detail = r.message;
        break;
    case ResolveResult::Status::tag_unknown:
        // No such version of the package set: the manifest does not
        // exist, and the answer is remembered like unknown packages.
        out.status = queue::BuildOutcome::Status::failed;
        out.code = ErrorCode::manifest_unknown;
        out.message = "manifest unknown: no tag '" + tag + "'";
        out.detail = r.message;
        break;
    }
    return out;
}

// An image of `request` stored under its own key that still serves it:
// its entry unexpired, its manifests there.
std::optional<IndexEntry> stored_image(Storage& storage,
                                       const ImageRequest& request)
{
    try {
        std::optional<std::string> text = storage.get(
            index_path(canonical_key(request)), max_index_entry_size);
        std::optional<IndexEntry> entry =
            text ? parse_index_entry(*text) : std::nullopt;
        if (!entry || entry->expired(std::time(nullptr)) ||
            !storage.size(
                manifest_path(ManifestKind::docker, entry->docker_hex)) ||
            !storage.size(manifest_path(ManifestKind::oci, entry->oci_hex))) {
            return std::nullopt;
        }
        return entry;
    } catch (const StorageError& e) {
        log::warn("index entry unreadable: building",
                  {{"image", request.name}, {"error", e.what()}});
        return std::nullopt;
    }
}

// A platform the package set cannot provide the request for: left out.
bool left_out(const ResolveResult& r)
{
    return r.status == ResolveResult::Status::not_found ||
           r.status == ResolveResult::Status::eval_failed;
}

} // namespace

queue::Builder make_nix_builder(NixBuilderOptions options, Storage& storage,
                                CollectionLock& lock)
{
    auto shared = std::make_shared<const NixBuilderOptions>(std::move(options));
    return [shared, &storage, &lock](const ImageRequest& request,
                                     const queue::BuildContext& context) {
        const NixBuilderOptions& o = *shared;
        AssembleOptions a;
        a.layer_budget = o.layer_budget;
        a.popularity = &o.popularity;
        a.layering = o.layering;
        a.threads = o.threads;
        a.expires = context.expires;
        a.progress = context.progress;
        AssembleCounts counts;
        a.counts = &counts;
        // Nix's share of the build, for the helper's metrics.
        auto resolve = [&](const ImageRequest& platform_request) {
            auto started = std::chrono::steady_clock::now();
            ResolveResult r = resolve_image(o.source, platform_request, o.nix);
            queue::metrics().nix_finished(
                std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              started)
                    .count());
            return r;
        };
        auto not_built = [&](const queue::BuildOutcome& out,
                             const ResolveResult& r, Arch arch) {
            log::info("image not built", {{"job", context.job_id},
                                          {"image", request.name},
                                          {"arch", arch_name(arch)},
                                          {"status", status_name(r.status)},
                                          {"message", out.message}});
            return out;
        };
        // `arm64/...` names, and single-platform helpers: one image.
        if (o.platforms.size() < 2 || request.arch != o.platforms.front()) {
            ResolveResult r = resolve(request);
            if (r.status != ResolveResult::Status::ok) {
                return not_built(failed_outcome(r, request.tag), r,
                                 request.arch);
            }
            // `r` and its GC roots live until assembly has read the store.
            assemble_image(storage, lock, request, r.closure, a);
            queue::metrics().layers(counts.layers_built, counts.layers_cached);
            return queue::BuildOutcome{};
        }
        // Every platform resolved first (their GC roots held in `resolved`
        // until assembly has read the store), then assembled under one hold
        // of the collection lock.
        std::vector<std::unique_ptr<ResolveResult>> resolved;
        std::vector<PlatformBuild> builds;
        for (Arch arch : o.platforms) {
            ImageRequest platform_request = request;
            platform_request.arch = arch;
            PlatformBuild b;
            b.arch = arch;
            if (arch != request.arch) {
                b.stored = stored_image(storage, platform_request);
            }
            if (!b.stored) {
                auto r =
                    std::make_unique<ResolveResult>(resolve(platform_request));
                if (r->status != ResolveResult::Status::ok) {
                    if (arch == request.arch || !left_out(*r)) {
                        return not_built(failed_outcome(*r, request.tag), *r,
                                         arch);
                    }
                    log::warn("platform left out of the image index",
                              {{"job", context.job_id},
                               {"image", request.name},
                               {"platform", platform_name(arch)},
                               {"status", status_name(r->status)},
                               {"message", r->message}});
                    continue;
                }
                b.closure = &r->closure;
                resolved.push_back(std::move(r));
            }
            builds.push_back(std::move(b));
        }
        assemble_platforms(storage, lock, request, builds, a);
        queue::metrics().layers(counts.layers_built, counts.layers_cached);
        return queue::BuildOutcome{};
    };
}

} // namespace nixery
