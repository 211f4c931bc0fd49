// run_process: argv only, both pipes drained, whole-call timeout that
// takes the process group down.
#include "base/process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <unistd.h>

using namespace nixery;
using namespace std::chrono_literals;

namespace {

ProcessOptions quick()
{
    ProcessOptions o;
    o.timeout = 30s;
    o.log_source = "";
    return o;
}

bool alive(pid_t pid)
{
    if (::kill(pid, 0) != 0) {
        return false;
    }
    // A zombie (reaped later by init) is dead for our purposes.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string s;
    std::getline(stat, s);
    auto close = s.rfind(')');
    return close == std::string::npos || s.substr(close + 2, 1) != "Z";
}

} // namespace

TEST(NixProcess, CollectsStdoutAndExitCode)
{
    ProcessResult r = run_process(
        {"/bin/sh", "-c", "echo out; echo err >&2; exit 7"}, quick());
    EXPECT_EQ(r.exit_code, 7);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err_tail, "err\n");
    EXPECT_EQ(r.err_lines, 1u);
}

TEST(NixProcess, ArgumentsAreNeverShellCode)
{
    // printf gets the string as its format argument; no shell sees it.
    ProcessResult r = run_process(
        {"printf", "%s", "$(touch /tmp/x); `id` ; 'q' \"d\""}, quick());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.out, "$(touch /tmp/x); `id` ; 'q' \"d\"");
}

TEST(NixProcess, MegabytesOnBothPipesDoNotDeadlock)
{
    // 4 MiB on stderr before any stdout, then 2 MiB on stdout: reading one
    // pipe to its end before the other would hang here.
    ProcessResult r = run_process(
        {"/bin/sh", "-c",
         "head -c 4194304 /dev/zero | tr '\\0' e | fold -w 127 >&2; "
         "head -c 2097152 /dev/zero | tr '\\0' o"},
        quick());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.out.size(), 2097152u);
    EXPECT_EQ(r.err_bytes, 4194304u + 4194304u / 127);
    EXPECT_EQ(r.err_lines, 4194304u / 127 + 1);
    EXPECT_LE(r.err_tail.size(), 2 * quick().stderr_keep);
}

TEST(NixProcess, TimeoutKillsTheWholeGroup)
{
    ProcessOptions o = quick();
    o.timeout = 500ms;
    o.kill_grace = 500ms;
    // The child ignores SIGTERM and leaves a grandchild in its group.
    ProcessResult r = run_process({"/bin/sh", "-c",
                                   "trap '' TERM; sleep 300 & echo $!; "
                                   "wait"},
                                  o);
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.signal, SIGKILL);
    pid_t grandchild = std::stoi(r.out);
    // The group was SIGKILLed before run_process returned; give the kernel
    // a moment to tear the process down.
    for (int i = 0; i < 100 && alive(grandchild); ++i) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_FALSE(alive(grandchild));
}

TEST(NixProcess, StdoutLimitStopsTheChild)
{
    ProcessOptions o = quick();
    o.max_stdout = 1000;
    ProcessResult r = run_process({"/bin/sh", "-c", "yes"}, o);
    EXPECT_TRUE(r.stdout_overflow);
    EXPECT_LE(r.out.size(), 1000u);
    EXPECT_FALSE(r.ok());
}

TEST(NixProcess, MissingProgramThrows)
{
    EXPECT_THROW(run_process({"/nonexistent/nix-thing"}, quick()),
                 std::system_error);
}

TEST(NixProcess, MarkedLineKeptWholeWhateverItsLength)
{
    // 100 KiB: far over the 16 KiB at which other lines are cut for the
    // log; the last marked line wins; lines around it stay stderr.
    ProcessOptions o = quick();
    o.marked_prefix = "mark: ";
    ProcessResult r = run_process(
        {"sh", "-c",
         "echo before >&2; echo 'mark: old' >&2;"
         " printf 'mark: ' >&2; head -c 102400 /dev/zero | tr '\\0' x >&2;"
         " echo >&2; echo after >&2"},
        o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.marked, std::string(102400, 'x'));
    EXPECT_NE(r.marked_at, std::chrono::steady_clock::time_point{});
    EXPECT_EQ(r.err_lines, 4u);
    EXPECT_NE(r.err_tail.find("after"), std::string::npos);
    // The marked lines are data, not diagnostics: not in the tail.
    EXPECT_EQ(r.err_tail.find("mark: "), std::string::npos) << r.err_tail;
    EXPECT_EQ(r.err_tail, "before\nafter\n");
}

TEST(NixProcess, NoMarkedLineNoMark)
{
    ProcessOptions o = quick();
    o.marked_prefix = "mark: ";
    ProcessResult r =
        run_process({"sh", "-c", "echo 'not mark: x' >&2; echo x"}, o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.marked, "");
    EXPECT_EQ(r.marked_at, std::chrono::steady_clock::time_point{});
}
