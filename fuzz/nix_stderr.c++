// What Nix prints on stderr, turned into the error a client reads:
// nix_error_message() and nix_build_error_message(). Input: one byte for
// the size limit, one for the number of log lines, then the stderr text.
// Properties: the message stays within its limit (plus "..."), starts at
// Nix's "error:" line when there is one, and the build message starts
// with the evaluation message's text.
#include "fuzz.h"

#include "nix/store.h"

#include <string>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    if (size < 2) {
        return 0;
    }
    std::size_t max = std::size_t(data[0]) * 4;
    std::size_t lines = data[1] % 16;
    std::string_view text = fuzz::bytes(data + 2, size - 2);

    std::string msg = nix_error_message(text, max);
    require(msg.size() <= max + 3);
    std::string build = nix_build_error_message(text, lines, max);
    require(build.size() <= max + 3);
    if (lines == 0) {
        require(build == msg);
    }
    if (text.find('\x1b') == std::string_view::npos &&
        text.starts_with("error:") && max >= 6) {
        require(msg.starts_with("error:"));
    }
    return 0;
}
