// Running Nix (or any program) as a child process, safely.
//
// The child gets an argv list (never a shell), /dev/null as stdin, and its
// own process group. Its stdout is collected; its stderr is read line by
// line as it comes and handed to the log (and kept, bounded, for error
// messages), both pipes drained together by poll(2) so that no amount of
// output on either can block the child. A timeout covers the whole call:
// when it expires the group gets SIGTERM (Nix then stops its builders),
// and SIGKILL a few seconds later. See docs/nix.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace nixery {

struct ProcessOptions {
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    // Between SIGTERM and SIGKILL once the timeout expired.
    std::chrono::milliseconds kill_grace{std::chrono::seconds(5)};
    // Stdout beyond this is an error (the child is killed).
    std::size_t max_stdout = std::size_t(256) << 20;
    // Bytes of stderr kept for error messages (the last ones).
    std::size_t stderr_keep = 64 * 1024;
    // Each stderr line is logged at debug level with this "source" field;
    // empty: not logged.
    std::string log_source = "nix";
    // When not empty: a stderr line starting with this is not logged but
    // kept whole (up to max_stdout) in ProcessResult::marked, whatever its
    // length; it is how an evaluation hands data to the helper while Nix
    // goes on building (nix/resolve.nix's trace line).
    std::string marked_prefix;
};

struct ProcessResult {
    int exit_code = -1;     // when it exited normally
    int signal = 0;         // when a signal ended it
    bool timed_out = false; // the timeout expired and the group was killed
    bool stdout_overflow = false;
    std::string out;      // all of stdout
    std::string err_tail; // the last stderr_keep bytes of stderr
    std::size_t err_lines = 0;
    std::size_t err_bytes = 0;
    // The last stderr line starting with marked_prefix, without the
    // prefix, and when it ended; marked_at is zero when none came.
    std::string marked;
    std::chrono::steady_clock::time_point marked_at{};

    bool ok() const { return exit_code == 0 && !timed_out; }
};

// Runs argv[0] (searched in PATH) with the arguments. Throws
// std::system_error when the process cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const ProcessOptions& options);

// Why a run did not succeed, for an error message: "timed out", "killed by
// signal 9", "output over the limit" or "exit status 22", followed by the
// last line of stderr when there is one.
std::string describe_failure(const ProcessResult& result);

} // namespace nixery
