#include "nix/closure_json.h"

#include <gtest/gtest.h>

namespace nixery {
namespace {

TEST(ClosureJson, NixPathInfoArray)
{
    Closure c = parse_closure_json(R"([
      {"path":"/nix/store/b-hello","narSize":20,"narHash":"x",
       "references":["/nix/store/a-glibc","/nix/store/b-hello"]},
      {"path":"/nix/store/a-glibc","narSize":10,"references":[]}])");
    ASSERT_EQ(c.paths.size(), 2u);
    EXPECT_EQ(c.paths[0].path, "/nix/store/a-glibc");
    EXPECT_EQ(c.paths[1].nar_size, 20u);
    EXPECT_EQ(c.paths[1].references.size(), 2u);
    // No roots given: the paths nothing else references.
    EXPECT_EQ(c.roots, std::vector<std::string>{"/nix/store/b-hello"});
}

TEST(ClosureJson, ObjectFormsWithRootsAndAttributes)
{
    Closure c = parse_closure_json(R"({
      "paths": {"/nix/store/b-hello": {"narSize": 2, "references":
                                       ["a-glibc"]},
                "/nix/store/a-glibc": {"narSize": 1, "references": []}},
      "roots": ["/nix/store/b-hello", "/nix/store/a-glibc"],
      "attributes": ["hello"]})");
    EXPECT_EQ(c.paths[1].references,
              std::vector<std::string>{"/nix/store/a-glibc"});
    EXPECT_EQ(c.roots, (std::vector<std::string>{"/nix/store/a-glibc",
                                                 "/nix/store/b-hello"}));
    EXPECT_EQ(c.attributes, std::vector<std::string>{"hello"});
    Closure keyed = parse_closure_json(
        R"({"/nix/store/a-x": {"narSize": 1, "references": []}})");
    EXPECT_EQ(keyed.paths.size(), 1u);
}

TEST(ClosureJson, RejectsMalformedInput)
{
    EXPECT_THROW(parse_closure_json("nope"), std::runtime_error);
    EXPECT_THROW(parse_closure_json(R"([{"path":"/nix/store/a"}])"),
                 std::runtime_error);
    EXPECT_THROW(parse_closure_json(R"([{"narSize":1}])"), std::runtime_error);
    EXPECT_THROW(
        parse_closure_json(R"([{"path":"/nix/store/a","narSize":-1}])"),
        std::runtime_error);
    EXPECT_THROW(parse_closure_json(R"({"paths": 3})"), std::runtime_error);
}

} // namespace
} // namespace nixery
