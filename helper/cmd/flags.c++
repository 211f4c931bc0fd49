#include "cmd/flags.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace nixery::cmd {

namespace {

// Where the help texts start in the usage: flags and values fit before.
constexpr std::size_t help_column = 24;

// "  --name ARG" padded to the help column (or on a line of its own when
// too long), then the help with its continuation lines indented.
std::string usage_line(const std::string& left, const std::string& help)
{
    std::string line = "  " + left;
    if (line.size() + 1 > help_column) {
        line += "\n" + std::string(help_column, ' ');
    } else {
        line.resize(help_column, ' ');
    }
    for (char c : help) {
        line += c;
        if (c == '\n') {
            line += std::string(help_column, ' ');
        }
    }
    return line + "\n";
}

} // namespace

long long parse_number(const std::string& flag, const std::string& value,
                       long long min, long long max)
{
    auto refuse = [&]() -> long long {
        std::string range =
            max == std::numeric_limits<long long>::max()
                ? ">= " + std::to_string(min)
                : "from " + std::to_string(min) + " to " + std::to_string(max);
        throw UsageError(flag + " needs a whole number " + range + ", not '" +
                         value + "'");
    };
    // strtoll alone would take leading blanks and a "+".
    if (value.empty() ||
        !(value[0] == '-' || (value[0] >= '0' && value[0] <= '9'))) {
        return refuse();
    }
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(value.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || n < min || n > max) {
        return refuse();
    }
    return n;
}

Flags::Flags(std::string program, std::string synopsis, std::string epilogue)
    : program_(std::move(program)), synopsis_(std::move(synopsis)),
      epilogue_(std::move(epilogue))
{
}

Flags& Flags::add(Flag flag)
{
    if (!flag.name.starts_with("--") || find(flag.name)) {
        // A mistake in the program, not in its command line.
        throw std::logic_error("flag declared twice or without --: " +
                               flag.name);
    }
    flags_.push_back(std::move(flag));
    return *this;
}

const Flags::Flag* Flags::find(const std::string& name) const
{
    for (const Flag& f : flags_) {
        if (f.name == name) {
            return &f;
        }
    }
    return nullptr;
}

Flags& Flags::text(std::string name, std::string* target, std::string arg,
                   std::string help)
{
    return add(
        {std::move(name), std::move(arg), std::move(help),
         [target](const std::string&, const std::string& v) { *target = v; }});
}

Flags& Flags::list(std::string name, std::vector<std::string>* target,
                   std::string arg, std::string help)
{
    return add({std::move(name), std::move(arg), std::move(help),
                [target](const std::string&, const std::string& v) {
                    target->push_back(v);
                }});
}

Flags& Flags::toggle(std::string name, bool* target, std::string help)
{
    return add(
        {std::move(name),
         {},
         std::move(help),
         [target](const std::string&, const std::string&) { *target = true; }});
}

Flags& Flags::add_number(std::string name, long long max, long long min,
                         std::string arg, std::string help,
                         std::function<void(long long)> set)
{
    return add({std::move(name), std::move(arg), std::move(help),
                [min, max, set](const std::string& flag, const std::string& v) {
                    set(parse_number(flag, v, min, max));
                }});
}

Flags& Flags::alias(std::string alias, const std::string& name)
{
    const Flag* target = find(name);
    if (!target) {
        throw std::logic_error("alias of an undeclared flag: " + name);
    }
    Flag copy = *target;
    copy.name = std::move(alias);
    copy.help = "the same as " + name;
    return add(std::move(copy));
}

Flags& Flags::operands(std::vector<std::string>* target)
{
    operands_ = target;
    return *this;
}

Flags::Parsed Flags::parse(const std::vector<std::string>& args) const
{
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            return Parsed::help;
        }
        if (!a.starts_with("--")) {
            if (!operands_) {
                throw UsageError("unexpected argument '" + a + "'");
            }
            operands_->push_back(a);
            continue;
        }
        if (a == "--" && operands_) {
            operands_->insert(operands_->end(), args.begin() + i + 1,
                              args.end());
            break;
        }
        std::size_t eq = a.find('=');
        std::string name = a.substr(0, eq);
        const Flag* flag = find(name);
        if (!flag) {
            throw UsageError("unknown option " + name);
        }
        if (flag->arg.empty()) {
            if (eq != std::string::npos) {
                throw UsageError(name + " takes no value");
            }
            flag->set(name, {});
        } else if (eq != std::string::npos) {
            flag->set(name, a.substr(eq + 1));
        } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
            flag->set(name, args[++i]);
        } else {
            throw UsageError(name + " needs a value (" + flag->arg + ")");
        }
    }
    return Parsed::ok;
}

void Flags::parse_or_exit(int argc, const char* const* argv) const
{
    Parsed parsed;
    try {
        parsed = parse({argv + std::min(argc, 1), argv + argc});
    } catch (const UsageError& e) {
        fail(e.what());
    }
    if (parsed == Parsed::help) {
        std::cout << usage() << std::flush;
        std::exit(0);
    }
}

std::string Flags::usage() const
{
    std::string text = "usage: " + program_ + " " + synopsis_ + "\n";
    for (const Flag& f : flags_) {
        text +=
            usage_line(f.arg.empty() ? f.name : f.name + " " + f.arg, f.help);
    }
    text += usage_line("--help", "this text");
    return text + epilogue_;
}

void Flags::fail(const std::string& why) const
{
    std::cerr << program_ << ": " << why << "\n" << usage() << std::flush;
    std::exit(2);
}

} // namespace nixery::cmd
