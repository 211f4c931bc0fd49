// The programs' flag parser: both spellings of a value, switches, numbers
// and their ranges, repeated flags, operands, aliases, and the errors.
#include "cmd/flags.h"

#include <gtest/gtest.h>

#include <cstdint>

using namespace nixery::cmd;

namespace {

struct Target {
    std::string storage = "unset";
    std::vector<std::string> roots;
    bool dry_run = false;
    unsigned concurrency = 1;
    std::int64_t expires = 0;
    std::chrono::seconds ttl{60};
    std::size_t budget = 94;
    std::vector<std::string> names;
};

Flags declare(Target& t)
{
    Flags f("nixery-test", "[options]", "environment: NONE\n");
    f.text("--storage", &t.storage, "DIR", "storage root")
        .list("--root", &t.roots, "PATH", "a root;\nrepeatable")
        .toggle("--dry-run", &t.dry_run, "change nothing")
        .number("--concurrency", &t.concurrency, 1, "N", "builds at once")
        .number("--expires", &t.expires, 0, "UNIX", "expiry")
        .number("--ttl", &t.ttl, 1, "S", "lifetime")
        .number("--layer-budget", &t.budget, 1, "N", "layers")
        .alias("--budget", "--layer-budget");
    return f;
}

std::string usage_error(const Flags& f, const std::vector<std::string>& args)
{
    try {
        f.parse(args);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "(accepted)";
}

} // namespace

TEST(Flags, ValuesInBothSpellings)
{
    Target t;
    Flags f = declare(t);
    EXPECT_EQ(f.parse({"--storage", "/a", "--concurrency=4", "--ttl", "5",
                       "--expires=2000000000", "--dry-run"}),
              Flags::Parsed::ok);
    EXPECT_EQ(t.storage, "/a");
    EXPECT_EQ(t.concurrency, 4u);
    EXPECT_EQ(t.ttl, std::chrono::seconds(5));
    EXPECT_EQ(t.expires, 2000000000);
    EXPECT_TRUE(t.dry_run);
}

TEST(Flags, NothingGivenChangesNothing)
{
    Target t;
    EXPECT_EQ(declare(t).parse({}), Flags::Parsed::ok);
    EXPECT_EQ(t.storage, "unset");
    EXPECT_FALSE(t.dry_run);
    EXPECT_EQ(t.budget, 94u);
}

TEST(Flags, LastValueWinsAndListsRepeat)
{
    Target t;
    declare(t).parse({"--storage", "/a", "--root", "/x", "--storage=/b",
                      "--root=/y", "--root", ""});
    EXPECT_EQ(t.storage, "/b");
    EXPECT_EQ(t.roots, (std::vector<std::string>{"/x", "/y", ""}));
}

TEST(Flags, EqualsKeepsTheRestVerbatim)
{
    Target t;
    declare(t).parse({"--storage=a=b", "--root=--odd"});
    EXPECT_EQ(t.storage, "a=b");
    EXPECT_EQ(t.roots, (std::vector<std::string>{"--odd"}));
    declare(t).parse({"--storage="});
    EXPECT_EQ(t.storage, "");
}

TEST(Flags, AliasSetsTheSameTarget)
{
    Target t;
    declare(t).parse({"--budget", "3"});
    EXPECT_EQ(t.budget, 3u);
    declare(t).parse({"--budget=7"});
    EXPECT_EQ(t.budget, 7u);
    // Its errors name the spelling used.
    EXPECT_EQ(usage_error(declare(t), {"--budget", "0"}),
              "--budget needs a whole number >= 1, not '0'");
}

TEST(Flags, UnknownFlagIsNamed)
{
    Target t;
    Flags f = declare(t);
    EXPECT_EQ(usage_error(f, {"--storage", "/a", "--bogus", "1"}),
              "unknown option --bogus");
    EXPECT_EQ(usage_error(f, {"--bogus=1"}), "unknown option --bogus");
    EXPECT_EQ(usage_error(f, {"stray"}), "unexpected argument 'stray'");
    EXPECT_EQ(usage_error(f, {"--"}), "unknown option --");
}

TEST(Flags, MissingValue)
{
    Target t;
    Flags f = declare(t);
    EXPECT_EQ(usage_error(f, {"--storage"}), "--storage needs a value (DIR)");
    // The next flag is not taken for a value.
    EXPECT_EQ(usage_error(f, {"--storage", "--dry-run"}),
              "--storage needs a value (DIR)");
    EXPECT_EQ(usage_error(f, {"--concurrency"}),
              "--concurrency needs a value (N)");
    EXPECT_EQ(usage_error(f, {"--dry-run=yes"}), "--dry-run takes no value");
}

TEST(Flags, NumbersAreCheckedForRange)
{
    Target t;
    Flags f = declare(t);
    EXPECT_EQ(usage_error(f, {"--concurrency", "0"}),
              "--concurrency needs a whole number from 1 to 4294967295, "
              "not '0'");
    EXPECT_EQ(usage_error(f, {"--concurrency", "4294967296"}),
              "--concurrency needs a whole number from 1 to 4294967295, "
              "not '4294967296'");
    EXPECT_EQ(usage_error(f, {"--expires", "-1"}),
              "--expires needs a whole number >= 0, not '-1'");
    for (const char* bad :
         {"", "x", "5x", " 5", "+5", "1e3", "0x10", "99999999999999999999"}) {
        EXPECT_NE(usage_error(f, {"--expires", bad}), "(accepted)") << bad;
    }
    EXPECT_EQ(usage_error(f, {"--expires", "9223372036854775807"}),
              "(accepted)");
    EXPECT_EQ(t.expires, 9223372036854775807);
    EXPECT_EQ(usage_error(f, {"--concurrency", "4294967295"}), "(accepted)");
    EXPECT_EQ(t.concurrency, 4294967295u);
}

TEST(Flags, ParseNumber)
{
    EXPECT_EQ(parse_number("--n", "-3", -5, 5), -3);
    EXPECT_THROW(parse_number("--n", "-6", -5, 5), UsageError);
    EXPECT_THROW(parse_number("--n", "6", -5, 5), UsageError);
}

TEST(Flags, Operands)
{
    Target t;
    Flags f = declare(t);
    f.operands(&t.names);
    f.parse({"a", "--dry-run", "b", "--", "--storage", "-x"});
    EXPECT_EQ(t.names, (std::vector<std::string>{"a", "b", "--storage", "-x"}));
    EXPECT_TRUE(t.dry_run);
    EXPECT_EQ(t.storage, "unset");
}

TEST(Flags, Help)
{
    Target t;
    Flags f = declare(t);
    EXPECT_EQ(f.parse({"--storage", "/a", "--help", "--bogus"}),
              Flags::Parsed::help);
    EXPECT_EQ(f.parse({"-h"}), Flags::Parsed::help);
    EXPECT_EQ(f.usage(), "usage: nixery-test [options]\n"
                         "  --storage DIR         storage root\n"
                         "  --root PATH           a root;\n"
                         "                        repeatable\n"
                         "  --dry-run             change nothing\n"
                         "  --concurrency N       builds at once\n"
                         "  --expires UNIX        expiry\n"
                         "  --ttl S               lifetime\n"
                         "  --layer-budget N      layers\n"
                         "  --budget N            the same as --layer-budget\n"
                         "  --help                this text\n"
                         "environment: NONE\n");
}

TEST(Flags, LongFlagGetsItsOwnLine)
{
    std::string v;
    Flags f("p", "");
    f.text("--a-very-long-flag-name", &v, "VALUE", "help");
    EXPECT_EQ(f.usage(), "usage: p \n"
                         "  --a-very-long-flag-name VALUE\n"
                         "                        help\n"
                         "  --help                this text\n");
}

TEST(Flags, ExitStatus)
{
    Target t;
    Flags f = declare(t);
    const char* help[] = {"nixery-test", "--help"};
    EXPECT_EXIT(f.parse_or_exit(2, help), testing::ExitedWithCode(0), "");
    const char* bad[] = {"nixery-test", "--bogus"};
    EXPECT_EXIT(f.parse_or_exit(2, bad), testing::ExitedWithCode(2),
                "nixery-test: unknown option --bogus\nusage: nixery-test");
    const char* ok[] = {"nixery-test", "--storage", "/s"};
    f.parse_or_exit(3, ok);
    EXPECT_EQ(t.storage, "/s");
}

TEST(Flags, DeclaringTwiceIsAProgramError)
{
    Target t;
    Flags f = declare(t);
    EXPECT_THROW(f.text("--storage", &t.storage, "DIR", ""), std::logic_error);
    EXPECT_THROW(f.text("storage", &t.storage, "DIR", ""), std::logic_error);
    EXPECT_THROW(f.alias("--b", "--nothing"), std::logic_error);
}
