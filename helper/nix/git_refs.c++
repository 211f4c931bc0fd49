#include "nix/git_refs.h"

#include "base/process.h"

#include <stdexcept>
#include <vector>

namespace nixery {

namespace {

std::string run_ls_remote(const std::string& url, std::chrono::seconds timeout)
{
    ProcessOptions po;
    po.timeout = timeout;
    po.log_source = "git";
    // No prompt for credentials: a daemon has no one to answer it.
    ProcessResult r = run_process({"env", "GIT_TERMINAL_PROMPT=0", "git",
                                   "ls-remote", "--heads", "--tags", url},
                                  po);
    if (!r.ok()) {
        throw std::runtime_error("git ls-remote of the package repository "
                                 "failed: " +
                                 describe_failure(r));
    }
    return r.out;
}

} // namespace

RefNames parse_ls_remote(std::string_view output)
{
    RefNames names;
    while (!output.empty()) {
        std::size_t nl = output.find('\n');
        std::string_view line = output.substr(0, nl);
        output = nl == std::string_view::npos ? std::string_view()
                                              : output.substr(nl + 1);
        std::size_t tab = line.find('\t');
        if (tab == std::string_view::npos) {
            continue;
        }
        std::string_view ref = line.substr(tab + 1);
        if (ref.ends_with("^{}")) {
            ref.remove_suffix(3);
        }
        for (std::string_view prefix : {"refs/heads/", "refs/tags/"}) {
            if (ref.starts_with(prefix) && ref.size() > prefix.size()) {
                names.emplace(ref.substr(prefix.size()));
            }
        }
    }
    return names;
}

GitRefs::GitRefs(std::string url, std::chrono::seconds ttl,
                 std::chrono::seconds timeout, Lister lister)
    : url_(std::move(url)), ttl_(ttl), lister_(std::move(lister))
{
    if (!lister_) {
        lister_ = [timeout](const std::string& u) {
            return run_ls_remote(u, timeout);
        };
    }
}

bool GitRefs::has(std::string_view name)
{
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (!fresh_ || now - listed_ >= ttl_) {
        refs_ = parse_ls_remote(lister_(url_));
        listed_ = now;
        fresh_ = true;
    }
    return refs_.contains(name);
}

RefNames GitRefs::list()
{
    std::lock_guard lock(mutex_);
    refs_ = parse_ls_remote(lister_(url_));
    listed_ = std::chrono::steady_clock::now();
    fresh_ = true;
    return refs_;
}

} // namespace nixery
