#include "queue_builder.h"

namespace nixery::queue {

namespace {

std::string summary(const ResolveResult& r)
{
    std::string what;
    switch (r.status) {
    case ResolveResult::Status::eval_failed:
        what = "evaluating the image failed";
        break;
    case ResolveResult::Status::build_failed:
        what = "building the image failed";
        break;
    case ResolveResult::Status::timeout:
        what = "the Nix build timed out";
        break;
    default:
        what = "image build failed";
        break;
    }
    if (!r.package.empty()) {
        what += " (package " + r.package + ")";
    }
    return what;
}

} // namespace

Builder make_nix_builder(NixBuilderOptions options)
{
    auto shared = std::make_shared<const NixBuilderOptions>(std::move(options));
    return [shared](const ImageRequest& request,
                    const BuildContext& context) -> BuildOutcome {
        const NixBuilderOptions& o = *shared;
        // The result holds GC roots on the closure until it goes out of
        // scope, after assembly has read every store path.
        ResolveResult resolved = resolve_image(o.source, request, o.nix);
        BuildOutcome out;
        switch (resolved.status) {
        case ResolveResult::Status::ok: {
            AssembleOptions a = o.assemble;
            a.expires = context.expires;
            a.popularity = o.popularity.get();
            assemble_image(request, resolved.closure, a);
            return out;
        }
        case ResolveResult::Status::not_found:
            out.status = BuildOutcome::Status::not_found;
            out.unknown = resolved.unknown_packages;
            if (out.unknown.empty() && !resolved.package.empty()) {
                out.unknown.push_back(resolved.package);
            }
            if (!out.unknown.empty()) {
                return out;
            }
            break;
        default:
            break;
        }
        out.status = BuildOutcome::Status::failed;
        out.message = summary(resolved);
        out.detail = resolved.message;
        return out;
    };
}

} // namespace nixery::queue
