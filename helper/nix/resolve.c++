#include "nix/resolve.h"
#include "json.h"
#include "routes.h"

#include "base/log.h"
#include "base/process.h"
#include "nix/store.h"

#include <jansson.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>

namespace nixery {

namespace {

using Clock = std::chrono::steady_clock;

// Explaining a throwing package costs one evaluation each: enough to tell
// the user what is wrong without letting a long list cost minutes.
constexpr std::size_t max_explained = 8;

struct Call {
    const NixOptions& options;
    Clock::time_point deadline;
    RenderedSource source;
    std::string system;
    // A git source asked for a branch, git tag or commit rather than its
    // default branch: a package set that cannot be loaded may mean the
    // repository lacks it.
    bool git_ref = false;
    std::string tag;

    // Nix processes run so far.
    mutable int calls = 0;

    ProcessResult run(const std::vector<std::string>& argv,
                      ProcessOptions po = {}) const
    {
        ++calls;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - Clock::now());
        po.timeout = std::max(left, std::chrono::milliseconds(1));
        auto start = Clock::now();
        ProcessResult r = run_process(argv, po);
        log::debug("nix call",
                   {{"program", argv.front()},
                    {"exit", r.exit_code},
                    {"timed_out", r.timed_out},
                    {"stderr_lines", r.err_lines},
                    {"duration_ms",
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         Clock::now() - start)
                         .count()}});
        return r;
    }

    std::vector<std::string>
    resolve_args(const std::string& packages_json) const
    {
        return {std::filesystem::absolute(options.nix_dir + "/resolve.nix"),
                "--argstr",
                "srcType",
                source.type,
                "--argstr",
                "srcArgs",
                source.args,
                "--argstr",
                "system",
                system,
                "--argstr",
                "packages",
                packages_json};
    }

    std::vector<std::string> eval_argv(const std::string& packages_json,
                                       const std::string& explain) const
    {
        std::vector<std::string> argv{
            "nix-instantiate", "--eval",
            // Otherwise --eval writes no .drv files, and nothing could be
            // realised afterwards.
            "--read-write-mode", "--strict", "--json"};
        for (std::string& a : resolve_args(packages_json)) {
            argv.push_back(std::move(a));
        }
        if (!explain.empty()) {
            argv.insert(argv.end(), {"--argstr", "explain", explain});
        }
        return argv;
    }

    // Evaluates, realises the outputs found and roots them (-o: indirect
    // roots root, root-2, root-3-dev...), printing the resolution on
    // stderr (see resolve.nix) and the outputs on stdout.
    std::vector<std::string> build_argv(const std::string& packages_json,
                                        const GcRoots& roots) const
    {
        std::vector<std::string> argv{"nix-build"};
        for (std::string& a : resolve_args(packages_json)) {
            argv.push_back(std::move(a));
        }
        argv.insert(argv.end(),
                    {"--argstr", "build", "1", "-o", roots.root_link()});
        return argv;
    }
};

// The stderr line nix/resolve.nix prints with build = "1".
constexpr std::string_view resolution_prefix = "trace: nixery-resolution ";

std::string names_json(const std::vector<std::string>& names)
{
    JsonPtr arr(json_array());
    for (const std::string& n : names) {
        json_t* s = json_stringn(n.data(), n.size());
        if (s == nullptr) {
            throw std::invalid_argument("package name is not UTF-8");
        }
        json_array_append_new(arr.get(), s);
    }
    return json_dump(arr.get(), JSON_COMPACT);
}

std::string str(json_t* obj, const char* key)
{
    const char* v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

void set_timeout(ResolveResult* error, const NixOptions& options)
{
    error->status = ResolveResult::Status::timeout;
    error->message = "Nix did not finish within " +
                     std::to_string(options.timeout.count()) + " s";
}

std::string join(const std::vector<std::string>& v, std::string_view sep)
{
    std::string out;
    for (const std::string& s : v) {
        if (!out.empty()) {
            out += sep;
        }
        out += s;
    }
    return out;
}

// Whether Nix's fetchGit failed because the repository has no such
// branch or commit (Nix's and git's words for it, remote and local), rather
// than for a reason a retry could change (the network, the disk).
bool names_missing_ref(std::string_view err)
{
    for (std::string_view words :
         {"Cannot find Git revision", "couldn't find remote ref",
          "unknown revision or path not in the working tree"}) {
        if (err.find(words) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

// Fills in Nix's own message for packages whose evaluation threw.
void explain_failures(const Call& call, std::vector<PackageResolution>& list,
                      ResolveResult* error)
{
    std::size_t explained = 0;
    for (PackageResolution& p : list) {
        if (p.status != PackageResolution::Status::failed ||
            !p.message.empty()) {
            continue;
        }
        if (explained++ >= max_explained) {
            p.message = "evaluation failed";
            continue;
        }
        ProcessResult r = call.run(call.eval_argv("[]", p.name));
        if (r.timed_out) {
            set_timeout(error, call.options);
            return;
        }
        p.message =
            r.ok() ? "evaluation failed" : nix_error_message(r.err_tail);
    }
}

void check_answered(const std::vector<PackageResolution>& list,
                    const std::vector<std::string>& names)
{
    if (list.size() != names.size()) {
        throw std::runtime_error("resolve.nix answered for " +
                                 std::to_string(list.size()) + " of " +
                                 std::to_string(names.size()) + " names");
    }
}

std::vector<PackageResolution>
resolve_names(const Call& call, const std::vector<std::string>& names,
              ResolveResult* error)
{
    if (names.empty()) {
        return {};
    }
    ProcessResult r = call.run(call.eval_argv(names_json(names), ""));
    if (r.timed_out) {
        set_timeout(error, call.options);
        return {};
    }
    std::vector<PackageResolution> list;
    if (r.ok()) {
        list = parse_resolution(r.out);
    } else {
        // An error tryEval cannot catch stopped the whole evaluation: first
        // see whether the package set loads at all, then take the names
        // one by one, so that one bad package hides no other.
        ProcessResult probe = call.run(call.eval_argv("[]", ""));
        if (probe.timed_out) {
            set_timeout(error, call.options);
            return {};
        }
        if (!probe.ok()) {
            if (call.git_ref && names_missing_ref(probe.err_tail)) {
                error->status = ResolveResult::Status::tag_unknown;
                error->message = unserved_tag_detail(TagPolicy::git, call.tag);
                return {};
            }
            error->status = ResolveResult::Status::eval_failed;
            error->message = "cannot load the package set: " +
                             nix_error_message(probe.err_tail);
            return {};
        }
        for (const std::string& name : names) {
            ProcessResult one =
                call.run(call.eval_argv(names_json({name}), ""));
            if (one.timed_out) {
                set_timeout(error, call.options);
                return {};
            }
            if (one.ok()) {
                auto parsed = parse_resolution(one.out);
                list.insert(list.end(), parsed.begin(), parsed.end());
            } else {
                PackageResolution p;
                p.name = name;
                p.status = PackageResolution::Status::failed;
                p.reason = "error";
                p.message = nix_error_message(one.err_tail);
                list.push_back(std::move(p));
            }
        }
    }
    check_answered(list, names);
    explain_failures(call, list, error);
    return list;
}

// The package whose derivation (or a dependency of it) failed to build.
std::string build_culprit(std::string_view err,
                          const std::vector<PackageResolution>& found)
{
    // Nix's error lines name the failed derivation, or the package's
    // derivation whose dependency failed; lines before them list every
    // derivation to build.
    if (std::size_t e = err.starts_with("error:") ? 0 : err.find("\nerror:");
        e != std::string_view::npos) {
        err.remove_prefix(e);
    }
    std::string culprit;
    std::size_t best = std::string_view::npos;
    for (const PackageResolution& p : found) {
        std::size_t at = err.find(p.drv_path);
        if (at != std::string_view::npos && at < best) {
            best = at;
            culprit = p.name;
        }
    }
    return culprit;
}

// Sorts the resolutions: unknown names and evaluation failures end the
// request (status and message set); else the packages found, to build.
std::vector<PackageResolution> packages_to_build(ResolveResult& result)
{
    std::vector<std::string> failures;
    std::vector<PackageResolution> found;
    for (const PackageResolution& p : result.packages) {
        switch (p.status) {
        case PackageResolution::Status::not_found:
            result.unknown_packages.push_back(p.name);
            break;
        case PackageResolution::Status::failed:
            if (result.package.empty()) {
                result.package = p.name;
            }
            failures.push_back(p.name + ": " + p.message);
            break;
        case PackageResolution::Status::found:
            found.push_back(p);
            break;
        }
    }
    if (!result.unknown_packages.empty()) {
        result.status = ResolveResult::Status::not_found;
        result.message =
            "unknown packages: " + join(result.unknown_packages, ", ");
        if (!failures.empty()) {
            result.message += "; " + join(failures, "; ");
        }
    } else if (!failures.empty()) {
        result.status = ResolveResult::Status::eval_failed;
        result.message = join(failures, "; ");
    }
    return found;
}

// Nix's closure is complete by construction; check it anyway, since
// assembly trusts it.
void check_closure(const Closure& closure)
{
    std::set<std::string> in_closure;
    for (const StorePath& p : closure.paths) {
        in_closure.insert(p.path);
    }
    for (const std::string& root : closure.roots) {
        if (!in_closure.count(root)) {
            throw std::runtime_error("closure lacks its root " + root);
        }
    }
    for (const StorePath& p : closure.paths) {
        for (const std::string& ref : p.references) {
            if (!in_closure.count(ref)) {
                throw std::runtime_error("closure lacks " + ref +
                                         ", referenced by " + p.path);
            }
        }
    }
}

std::shared_ptr<GcRoots> fresh_roots(const NixOptions& options)
{
    std::string roots_dir =
        options.gc_roots_dir.empty()
            ? std::filesystem::temp_directory_path() / "nixery-gcroots"
            : std::filesystem::path(options.gc_roots_dir);
    return std::make_shared<GcRoots>(roots_dir);
}

// Reads the closure of the found outputs, already held by `roots`, into
// the result (with the roots): from the store's database when it can,
// else with `nix path-info`.
void read_closure(const Call& call, const std::vector<PackageResolution>& found,
                  std::shared_ptr<GcRoots> roots, ResolveResult& result)
{
    const auto start = Clock::now();
    std::set<std::string> outputs, attributes;
    for (const PackageResolution& p : found) {
        outputs.insert(p.output_path);
        attributes.insert(p.attr_path);
    }
    std::vector<std::string> roots_list(outputs.begin(), outputs.end());
    std::string why;
    if (auto paths = read_closure_db(call.options.store_db, roots_list, &why)) {
        result.closure.paths = std::move(*paths);
        result.timings.closure_from_db = true;
    } else {
        log::debug("closure from nix path-info", {{"why", why}});
        ProcessResult info = call.run(path_info_argv(roots_list));
        if (info.timed_out) {
            set_timeout(&result, call.options);
            return;
        }
        if (!info.ok()) {
            throw std::runtime_error("nix path-info failed: " +
                                     nix_error_message(info.err_tail));
        }
        result.closure.paths = parse_path_info(info.out);
    }
    result.closure.roots = std::move(roots_list);
    result.closure.attributes.assign(attributes.begin(), attributes.end());
    check_closure(result.closure);
    result.gc_roots = std::move(roots);
    result.timings.closure = Clock::now() - start;
}

void set_build_failure(const ProcessResult& built,
                       const std::vector<PackageResolution>& found,
                       ResolveResult& result)
{
    result.status = ResolveResult::Status::build_failed;
    result.package = build_culprit(built.err_tail, found);
    result.message = nix_build_error_message(built.err_tail);
}

// Realises the packages under fresh GC roots with `nix-store --realise`,
// then reads the closure those roots hold into the result (with the
// roots); or sets the build failure or timeout. For when the one-call
// path could not evaluate and the diagnostics did.
void realise_closure(const Call& call,
                     const std::vector<PackageResolution>& found,
                     ResolveResult& result)
{
    const auto start = Clock::now();
    auto roots = fresh_roots(call.options);
    std::set<std::string> drvs;
    for (const PackageResolution& p : found) {
        drvs.insert(p.drv_path);
    }
    ProcessResult built =
        call.run(realise_argv({drvs.begin(), drvs.end()}, *roots));
    result.timings.realise = Clock::now() - start;
    if (built.timed_out) {
        set_timeout(&result, call.options);
        return;
    }
    if (!built.ok()) {
        set_build_failure(built, found, result);
        return;
    }
    read_closure(call, found, std::move(roots), result);
}

// The outputs nix-build printed must be the ones resolve.nix found.
void check_built(const ProcessResult& built,
                 const std::vector<PackageResolution>& found)
{
    std::set<std::string> printed, expected;
    std::string_view rest(built.out);
    while (!rest.empty()) {
        std::size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        if (!line.empty()) {
            printed.emplace(line);
        }
        rest = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
    }
    for (const PackageResolution& p : found) {
        expected.insert(p.output_path);
    }
    if (printed != expected) {
        throw std::runtime_error(
            "nix-build built " + std::to_string(printed.size()) +
            " outputs, not the " + std::to_string(expected.size()) + " found");
    }
}

// The common case in one Nix process: nix-build evaluates the names
// (printing their resolution), realises the outputs and roots them. Only
// when its evaluation stopped before the resolution (an error tryEval
// cannot catch, a set that does not load) do the diagnostics of
// resolve_names() run, and then realise_closure().
void build_image(const Call& call, const std::vector<std::string>& names,
                 ResolveResult& result)
{
    const auto start = Clock::now();
    auto roots = fresh_roots(call.options);
    ProcessOptions po;
    po.marked_prefix = resolution_prefix;
    ProcessResult built =
        call.run(call.build_argv(names_json(names), *roots), std::move(po));
    const auto end = Clock::now();
    if (built.timed_out) {
        set_timeout(&result, call.options);
        return;
    }
    if (built.marked_at == Clock::time_point{}) {
        result.packages = resolve_names(call, names, &result);
        result.timings.evaluate = Clock::now() - start;
        if (result.status != ResolveResult::Status::ok) {
            return;
        }
        std::vector<PackageResolution> found = packages_to_build(result);
        if (result.status == ResolveResult::Status::ok) {
            realise_closure(call, found, result);
        }
        return;
    }
    result.timings.evaluate = built.marked_at - start;
    result.timings.realise = end - built.marked_at;
    result.packages = parse_resolution(built.marked);
    check_answered(result.packages, names);
    explain_failures(call, result.packages, &result);
    if (result.status != ResolveResult::Status::ok) {
        return;
    }
    std::vector<PackageResolution> found = packages_to_build(result);
    if (result.status != ResolveResult::Status::ok) {
        return;
    }
    if (!built.ok()) {
        set_build_failure(built, found, result);
        return;
    }
    check_built(built, found);
    read_closure(call, found, std::move(roots), result);
}

Call make_call(const PackageSource& source, std::string_view tag,
               std::string_view system, const NixOptions& options)
{
    return Call{options,
                Clock::now() + options.timeout,
                render_source(source, tag),
                std::string(system),
                source.type == PackageSource::Type::git && !tag.empty() &&
                    tag != "latest",
                std::string(tag),
                0};
}

} // namespace

double milliseconds(std::chrono::steady_clock::duration d) noexcept
{
    return std::chrono::duration<double, std::milli>(d).count();
}

std::string_view status_name(ResolveResult::Status status) noexcept
{
    switch (status) {
    case ResolveResult::Status::ok:
        return "ok";
    case ResolveResult::Status::not_found:
        return "not found";
    case ResolveResult::Status::eval_failed:
        return "evaluation failed";
    case ResolveResult::Status::build_failed:
        return "build failed";
    case ResolveResult::Status::timeout:
        return "timeout";
    case ResolveResult::Status::tag_unknown:
        return "tag unknown";
    }
    return "unknown";
}

std::vector<PackageResolution> parse_resolution(std::string_view text)
{
    json_error_t err;
    JsonPtr root(json_loadb(text.data(), text.size(), 0, &err));
    if (!root || !json_is_array(root.get())) {
        throw std::runtime_error(std::string("resolve.nix: bad JSON: ") +
                                 (root ? "not an array" : err.text));
    }
    std::vector<PackageResolution> list;
    std::size_t i;
    json_t* item;
    json_array_foreach(root.get(), i, item)
    {
        PackageResolution p;
        p.name = str(item, "name");
        std::string status = str(item, "status");
        p.attr_path = str(item, "attrPath");
        if (status == "found") {
            p.status = PackageResolution::Status::found;
            p.output_path = str(item, "outputPath");
            p.drv_path = str(item, "drvPath");
            p.output_name = str(item, "outputName");
            if (!p.output_path.starts_with("/") ||
                !p.drv_path.ends_with(".drv")) {
                throw std::runtime_error("resolve.nix: bad paths for " +
                                         p.name);
            }
        } else if (status == "not_found") {
            p.status = PackageResolution::Status::not_found;
        } else if (status == "failed") {
            p.status = PackageResolution::Status::failed;
            p.reason = str(item, "reason");
            p.message = str(item, "message");
            std::size_t j;
            json_t* c;
            json_array_foreach(json_object_get(item, "candidates"), j, c)
            {
                if (const char* s = json_string_value(c)) {
                    p.candidates.emplace_back(s);
                }
            }
        } else {
            throw std::runtime_error("resolve.nix: unknown status '" + status +
                                     "'");
        }
        list.push_back(std::move(p));
    }
    return list;
}

bool check_tag(const PackageSource& source, std::string_view tag,
               const NixOptions& options, ResolveResult* error)
{
    if (tag.empty() || tag == "latest") {
        return true;
    }
    if (source.type == PackageSource::Type::git) {
        if (is_commit(tag)) {
            return true;
        }
        std::shared_ptr<GitRefs> refs = options.git_refs;
        if (!refs) {
            refs = std::make_shared<GitRefs>(source.value);
        }
        if (refs->has(tag)) {
            return true;
        }
    }
    error->status = ResolveResult::Status::tag_unknown;
    error->message = unserved_tag_detail(source.type == PackageSource::Type::git
                                             ? TagPolicy::git
                                             : TagPolicy::latest,
                                         tag);
    return false;
}

std::vector<PackageResolution>
resolve_packages(const PackageSource& source, std::string_view tag,
                 std::string_view system, const std::vector<std::string>& names,
                 const NixOptions& options, ResolveResult* error)
{
    ResolveResult scratch;
    ResolveResult* e = error ? error : &scratch;
    if (!check_tag(source, tag, options, e)) {
        return {};
    }
    return resolve_names(make_call(source, tag, system, options), names, e);
}

ResolveResult resolve_image(const PackageSource& source,
                            const ImageRequest& request,
                            const NixOptions& options)
{
    const auto start = Clock::now();
    ResolveResult result;
    if (!check_tag(source, request.tag, options, &result)) {
        return result;
    }
    Call call =
        make_call(source, request.tag, nix_system(request.arch), options);
    build_image(call, request.packages, result);
    result.timings.nix_calls = call.calls;
    if (result.status != ResolveResult::Status::ok) {
        return result;
    }
    const ResolveTimings& t = result.timings;
    auto ms = [](Clock::duration d) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    log::info("resolved",
              {{"image", request.name},
               {"paths", result.closure.paths.size()},
               {"duration_ms", ms(Clock::now() - start)},
               {"evaluate_ms", ms(t.evaluate)},
               {"realise_ms", ms(t.realise)},
               {"closure_ms", ms(t.closure)},
               {"nix_calls", t.nix_calls},
               {"closure_from", t.closure_from_db ? "database" : "nix"}});
    return result;
}

} // namespace nixery
