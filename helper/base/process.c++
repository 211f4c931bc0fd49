#include "base/process.h"

#include "base/log.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

extern char** environ;

namespace nixery {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    void reset(int fd = -1) noexcept
    {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

void make_pipe(Fd& read_end, Fd& write_end)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
}

// Splits stderr into lines for the log; keeps the tail for messages.
class StderrSink {
  public:
    explicit StderrSink(const ProcessOptions& o, ProcessResult& r)
        : options_(o), result_(r)
    {
    }

    void feed(const char* data, std::size_t n)
    {
        result_.err_bytes += n;
        line_.append(data, n);
        std::size_t start = 0;
        for (;;) {
            std::size_t nl = line_.find('\n', start);
            if (nl == std::string::npos) {
                break;
            }
            emit(std::string_view(line_).substr(start, nl - start));
            start = nl + 1;
        }
        line_.erase(0, start);
        // A line without end: log it in pieces rather than grow forever
        // (a marked line up to its own bound).
        if (line_.size() > max_line &&
            (!is_marked(line_) || line_.size() > options_.max_stdout)) {
            emit(line_);
            line_.clear();
        }
    }

    void finish()
    {
        if (!line_.empty()) {
            emit(line_);
            line_.clear();
        }
    }

  private:
    static constexpr std::size_t max_line = 16 * 1024;

    bool is_marked(std::string_view line) const
    {
        return !options_.marked_prefix.empty() &&
               line.starts_with(options_.marked_prefix);
    }

    void emit(std::string_view line)
    {
        ++result_.err_lines;
        if (is_marked(line)) {
            // Data for the caller, not a diagnostic: kept out of the tail
            // that error messages are made of.
            result_.marked = line.substr(options_.marked_prefix.size());
            result_.marked_at = Clock::now();
            return;
        }
        keep(line);
        if (!options_.log_source.empty()) {
            log::debug(line, {{"source", options_.log_source}});
        }
    }

    void keep(std::string_view line)
    {
        std::string& t = result_.err_tail;
        t.append(line);
        t += '\n';
        if (t.size() > 2 * options_.stderr_keep) {
            t.erase(0, t.size() - options_.stderr_keep);
        }
    }

    const ProcessOptions& options_;
    ProcessResult& result_;
    std::string line_;
};

pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd)
{
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    // Its own process group, so that a timeout can end all of it; default
    // signal handling and an empty mask whatever the helper's threads use.
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                        POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        throw std::system_error(rc, std::generic_category(),
                                "cannot run " + argv.front());
    }
    return pid;
}

// The child's process group and the timeout: SIGTERM to the group at the
// deadline, SIGKILL after the grace, then a second for the pipes.
class Child {
  public:
    Child(pid_t pid, const ProcessOptions& options, ProcessResult& result)
        : pid_(pid), options_(options), result_(result),
          deadline_(Clock::now() + options.timeout)
    {
    }

    pid_t pid() const { return pid_; }
    Clock::time_point deadline() const { return deadline_; }

    // The group id is the child's pid; it may be gone already.
    void kill_group(int sig) { ::kill(-pid_, sig); }

    // At the deadline: the next step of the escalation; false when every
    // step has been taken (the group was killed a second ago).
    bool escalate(Clock::time_point now)
    {
        if (!term_sent_) {
            result_.timed_out = true;
            term_sent_ = true;
            kill_group(SIGTERM);
            deadline_ = now + options_.kill_grace;
            return true;
        }
        if (!kill_sent_) {
            kill_sent_ = true;
            kill_group(SIGKILL);
            // Pipes may stay open in detached grandchildren: stop reading
            // soon whatever happens.
            deadline_ = now + std::chrono::seconds(1);
            return true;
        }
        return false;
    }

    // After escalate() ran out: kill again, check again in a second.
    void kill_again(Clock::time_point now)
    {
        kill_group(SIGKILL);
        deadline_ = now + std::chrono::seconds(1);
    }

  private:
    pid_t pid_;
    const ProcessOptions& options_;
    ProcessResult& result_;
    Clock::time_point deadline_;
    bool term_sent_ = false;
    bool kill_sent_ = false;
};

// The child's two pipes, read until both close or the timeout runs out:
// stdout into the result (up to max_stdout), stderr into the sink.
class Pipes {
  public:
    Pipes(Fd& out, Fd& err, Child& child, const ProcessOptions& options,
          ProcessResult& result, StderrSink& sink)
        : out_(out), err_(err), child_(child), options_(options),
          result_(result), sink_(sink)
    {
    }

    void drain()
    {
        while (out_open_ || err_open_) {
            auto now = Clock::now();
            if (now >= child_.deadline()) {
                if (!child_.escalate(now)) {
                    break;
                }
                continue;
            }
            if (!poll_once(now)) {
                child_.kill_group(SIGKILL);
                break;
            }
        }
        sink_.finish();
    }

  private:
    // Waits for data until the deadline (at most a second) and reads what
    // came; false when poll() fails.
    bool poll_once(Clock::time_point now)
    {
        pollfd fds[2];
        nfds_t n = 0;
        if (out_open_) {
            fds[n++] = {out_.get(), POLLIN, 0};
        }
        if (err_open_) {
            fds[n++] = {err_.get(), POLLIN, 0};
        }
        auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           child_.deadline() - now)
                           .count();
        int rc = ::poll(
            fds, n, static_cast<int>(std::min<long long>(wait_ms + 1, 1000)));
        if (rc < 0) {
            return errno == EINTR;
        }
        for (nfds_t i = 0; i < n; ++i) {
            if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                read_from(fds[i].fd);
            }
        }
        return true;
    }

    void read_from(int fd)
    {
        ssize_t got = ::read(fd, buf_, sizeof buf_);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            return;
        }
        bool is_out = fd == out_.get();
        if (got <= 0) {
            (is_out ? out_open_ : err_open_) = false;
            return;
        }
        if (!is_out) {
            sink_.feed(buf_, std::size_t(got));
            return;
        }
        if (result_.out.size() + std::size_t(got) > options_.max_stdout) {
            result_.stdout_overflow = true;
            child_.kill_group(SIGKILL);
            out_open_ = false;
            return;
        }
        result_.out.append(buf_, std::size_t(got));
    }

    Fd& out_;
    Fd& err_;
    Child& child_;
    const ProcessOptions& options_;
    ProcessResult& result_;
    StderrSink& sink_;
    bool out_open_ = true;
    bool err_open_ = true;
    char buf_[65536];
};

// The child's wait status (-1 when waitpid fails); the child may outlive
// its pipes: the same deadline applies.
int reap(Child& child)
{
    int status = 0;
    for (;;) {
        pid_t w = ::waitpid(child.pid(), &status, WNOHANG);
        if (w == child.pid()) {
            return status;
        }
        if (w < 0 && errno != EINTR) {
            return -1;
        }
        auto now = Clock::now();
        if (now >= child.deadline() && !child.escalate(now)) {
            child.kill_again(now);
        }
        ::usleep(5000);
    }
}

} // namespace

ProcessResult run_process(const std::vector<std::string>& argv,
                          const ProcessOptions& options)
{
    if (argv.empty()) {
        throw std::system_error(EINVAL, std::generic_category(), "no argv");
    }
    ProcessResult result;
    Fd out_r, out_w, err_r, err_w;
    make_pipe(out_r, out_w);
    make_pipe(err_r, err_w);
    Child child(spawn(argv, out_w.get(), err_w.get()), options, result);
    out_w.reset();
    err_w.reset();

    StderrSink sink(options, result);
    Pipes(out_r, err_r, child, options, result, sink).drain();
    int status = reap(child);
    // Whatever the child left in its group goes with it.
    child.kill_group(SIGKILL);
    if (status != -1 && WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (status != -1 && WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    return result;
}

std::string describe_failure(const ProcessResult& result)
{
    std::string why;
    if (result.timed_out) {
        why = "timed out";
    } else if (result.stdout_overflow) {
        why = "output over the limit";
    } else if (result.signal != 0) {
        why = "killed by signal " + std::to_string(result.signal);
    } else {
        why = "exit status " + std::to_string(result.exit_code);
    }
    std::string_view tail = result.err_tail;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) {
        tail.remove_suffix(1);
    }
    auto nl = tail.find_last_of('\n');
    if (nl != tail.npos) {
        tail.remove_prefix(nl + 1);
    }
    if (!tail.empty()) {
        why += ": ";
        why += tail;
    }
    return why;
}

} // namespace nixery
