#include "nix/store.h"

#include "nix/closure_json.h"

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace nixery {

namespace {

std::string strip_ansi(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
            i += 2;
            while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) {
                ++i;
            }
            continue;
        }
        out.push_back(s[i]);
    }
    return out;
}

std::string_view trim(std::string_view s)
{
    const char* ws = " \t\r\n";
    std::size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) {
        return {};
    }
    std::size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

} // namespace

std::vector<std::string> realise_argv(const std::vector<std::string>& drvs,
                                      const GcRoots& roots)
{
    std::vector<std::string> argv{"nix-store", "--realise"};
    argv.insert(argv.end(), drvs.begin(), drvs.end());
    argv.push_back("--add-root");
    argv.push_back(roots.root_link());
    return argv;
}

std::vector<std::string> path_info_argv(const std::vector<std::string>& paths)
{
    std::vector<std::string> argv{
        "nix",         "--extra-experimental-features",
        "nix-command", "path-info",
        "--json",      "--recursive"};
    argv.insert(argv.end(), paths.begin(), paths.end());
    return argv;
}

std::vector<StorePath> parse_path_info(std::string_view text)
{
    // One parser for every closure JSON the helper reads (closure_json.h).
    std::vector<StorePath> paths = parse_closure_json(text).paths;
    if (paths.empty()) {
        throw std::runtime_error("nix path-info: no store paths");
    }
    return paths;
}

std::string nix_error_message(std::string_view stderr_text, std::size_t max)
{
    std::string text;
    // Nix's hint about --show-trace means nothing to a registry user.
    {
        std::string all = strip_ansi(stderr_text);
        std::string_view rest(all);
        while (!rest.empty()) {
            std::size_t nl = rest.find('\n');
            std::string_view line = rest.substr(0, nl);
            if (!line.starts_with("(use '--show-trace'")) {
                text.append(line);
                text.push_back('\n');
            }
            rest = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
        }
    }
    std::string_view view(text);
    std::size_t at = std::string_view::npos;
    if (view.starts_with("error:")) {
        at = 0;
    } else {
        std::size_t nl = view.find("\nerror:");
        if (nl != std::string_view::npos) {
            at = nl + 1;
        }
    }
    if (at == std::string_view::npos) {
        // No error line: the last few lines say most.
        std::size_t cut = view.size() > max ? view.size() - max : 0;
        view = view.substr(cut);
    } else {
        view = view.substr(at);
    }
    view = trim(view);
    std::string msg(view.substr(0, max));
    if (view.size() > max) {
        msg += "...";
    }
    return msg;
}

} // namespace nixery

namespace nixery {

std::string nix_build_error_message(std::string_view stderr_text,
                                    std::size_t lines, std::size_t max)
{
    std::string error = nix_error_message(stderr_text, max);
    std::string text = strip_ansi(stderr_text);
    std::size_t at = text.starts_with("error:") ? 0 : text.find("\nerror:");
    if (at == std::string::npos || lines == 0) {
        return error;
    }
    // The builder's own output precedes Nix's error lines.
    std::vector<std::string_view> tail;
    std::string_view before = std::string_view(text).substr(0, at);
    while (!before.empty() && tail.size() < lines) {
        std::size_t nl = before.rfind('\n');
        std::string_view line =
            trim(nl == std::string_view::npos ? before : before.substr(nl + 1));
        before = nl == std::string_view::npos ? "" : before.substr(0, nl);
        if (line.empty() || line.starts_with("building '") ||
            line.starts_with("these ") ||
            line.starts_with("this derivation ") ||
            line.starts_with("this path ") || line.starts_with("/nix/store/") ||
            line.starts_with("warning: ")) {
            continue;
        }
        tail.push_back(line);
    }
    if (tail.empty()) {
        return error;
    }
    std::string msg = error + "\nlast lines of the build log:";
    for (auto it = tail.rbegin(); it != tail.rend(); ++it) {
        msg += "\n> ";
        msg += *it;
    }
    if (msg.size() > max) {
        msg.resize(max);
        msg += "...";
    }
    return msg;
}

} // namespace nixery
