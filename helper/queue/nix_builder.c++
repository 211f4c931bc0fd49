#include "queue/nix_builder.h"

#include "base/log.h"

#include <memory>

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

} // namespace

queue::Builder make_nix_builder(NixBuilderOptions options, Storage& storage,
                                CollectionLock& lock)
{
    auto shared = std::make_shared<const NixBuilderOptions>(std::move(options));
    return [shared, &storage, &lock](const ImageRequest& request,
                                     const queue::BuildContext& context) {
        const NixBuilderOptions& o = *shared;
        queue::BuildOutcome out;
        ResolveResult r = resolve_image(o.source, request, o.nix);
        switch (r.status) {
        case ResolveResult::Status::ok: {
            AssembleOptions a;
            a.layer_budget = o.layer_budget;
            a.popularity = &o.popularity;
            a.threads = o.threads;
            a.expires = context.expires;
            a.progress = context.progress;
            // `r` and its GC roots live until assembly has read the store.
            assemble_image(storage, lock, request, r.closure, a);
            out.status = queue::BuildOutcome::Status::ok;
            break;
        }
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
            out.message = "manifest unknown: no tag '" + request.tag + "'";
            out.detail = r.message;
            break;
        }
        if (out.status != queue::BuildOutcome::Status::ok) {
            log::info("image not built", {{"job", context.job_id},
                                          {"image", request.name},
                                          {"status", status_name(r.status)},
                                          {"message", out.message}});
        }
        return out;
    };
}

} // namespace nixery
