// The programs' command line: one small flag parser shared by
// nixery-helper, -assemble, -resolve, -gc and -popcount, so that each of
// them takes `--name VALUE` and `--name=VALUE`, answers --help (and -h)
// with a list of its flags, and refuses an unknown flag, a missing value
// or a number out of range the same way: a message naming the flag, the
// usage, exit status 2.
//
// A program declares each flag bound to the variable it sets, then calls
// parse_or_exit(). A value is the next argument unless that one starts
// with "--" (then the value is missing: `--storage --dry-run` is an error,
// `--storage=--odd` is not). Operands (arguments that are not flags, and
// everything after "--") are refused unless the program takes them.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace nixery::cmd {

// Bad usage: what() names the flag and says what is wrong.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A decimal integer in [min, max], or UsageError naming `flag`.
long long parse_number(const std::string& flag, const std::string& value,
                       long long min, long long max);

class Flags {
  public:
    // --help prints "usage: <program> <synopsis>", the flags and then
    // `epilogue` (if any).
    Flags(std::string program, std::string synopsis, std::string epilogue = {});

    // --name VALUE: the last one given wins. `arg` names the value in the
    // usage ("DIR"); `help` may hold newlines.
    Flags& text(std::string name, std::string* target, std::string arg,
                std::string help);
    // --name VALUE, repeatable: each value is appended.
    Flags& list(std::string name, std::vector<std::string>* target,
                std::string arg, std::string help);
    // --name alone (a switch): sets *target to true.
    Flags& toggle(std::string name, bool* target, std::string help);
    // --name N: a decimal integer from `min` to what the target holds.
    template <std::integral T>
    Flags& number(std::string name, T* target, long long min, std::string arg,
                  std::string help)
    {
        return add_number(
            std::move(name), max_of<T>(), min, std::move(arg), std::move(help),
            [target](long long n) { *target = static_cast<T>(n); });
    }
    // --name N: a count of the duration's units (seconds, milliseconds).
    template <typename Rep, typename Period>
    Flags& number(std::string name, std::chrono::duration<Rep, Period>* target,
                  long long min, std::string arg, std::string help)
    {
        return add_number(std::move(name), max_of<Rep>(), min, std::move(arg),
                          std::move(help), [target](long long n) {
                              *target = std::chrono::duration<Rep, Period>(n);
                          });
    }
    // Another spelling of the flag `name` (declared before), kept for
    // command lines written before the flags were made consistent.
    Flags& alias(std::string alias, const std::string& name);
    // Arguments that are not flags, in order, and all after "--".
    Flags& operands(std::vector<std::string>* target);

    enum class Parsed { ok, help };
    // Sets the bound variables from `args` (without the program name);
    // throws UsageError.
    Parsed parse(const std::vector<std::string>& args) const;
    // parse() on argv; --help: the usage on stdout and exit 0; bad usage:
    // fail().
    void parse_or_exit(int argc, const char* const* argv) const;
    // The usage text --help prints.
    std::string usage() const;
    // "<program>: <why>" and the usage on stderr; exit status 2.
    [[noreturn]] void fail(const std::string& why) const;

  private:
    struct Flag {
        std::string name; // "--storage"
        std::string arg;  // "DIR"; empty for a switch
        std::string help; // for the usage
        // Called with the spelling used (for messages) and the value.
        std::function<void(const std::string&, const std::string&)> set;
    };

    template <typename T> static long long max_of()
    {
        using Limits = std::numeric_limits<T>;
        using ULL = unsigned long long;
        return static_cast<long long>(std::min<ULL>(
            static_cast<ULL>(Limits::max()),
            static_cast<ULL>(std::numeric_limits<long long>::max())));
    }
    Flags& add_number(std::string name, long long max, long long min,
                      std::string arg, std::string help,
                      std::function<void(long long)> set);
    Flags& add(Flag flag);
    const Flag* find(const std::string& name) const;

    std::string program_;
    std::string synopsis_;
    std::string epilogue_;
    std::vector<Flag> flags_;
    std::vector<std::string>* operands_ = nullptr;
};

} // namespace nixery::cmd
