// The lists of a multi-platform image and the platforms flag.
#include "image/image_index.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace nixery {
namespace {

TEST(ImageList, OciIndexIsTheDocumentedJson)
{
    std::string a(64, 'a'), b(64, 'b');
    EXPECT_EQ(
        image_list_json(ManifestKind::oci_index,
                        {{Arch::amd64, a, 1234}, {Arch::arm64, b, 567}}),
        "{\"schemaVersion\":2,"
        "\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"size\":1234,\"digest\":\"sha256:" +
            a +
            "\","
            "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
            "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"size\":567,\"digest\":\"sha256:" +
            b +
            "\","
            "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\","
            "\"variant\":\"v8\"}}]}");
}

TEST(ImageList, DockerListNamesDockerManifests)
{
    std::string text = image_list_json(
        ManifestKind::docker_list, {{Arch::amd64, std::string(64, 'c'), 9}});
    EXPECT_EQ(text.find("{\"schemaVersion\":2,\"mediaType\":\"application/"
                        "vnd.docker.distribution.manifest.list.v2+json\""),
              0u);
    EXPECT_NE(text.find("\"mediaType\":\"application/vnd.docker.distribution."
                        "manifest.v2+json\",\"size\":9"),
              std::string::npos);
    EXPECT_EQ(text.find("oci"), std::string::npos);
}

TEST(ImageList, OnlyListKinds)
{
    EXPECT_THROW(image_list_json(ManifestKind::oci, {}), std::invalid_argument);
    EXPECT_THROW(image_list_json(ManifestKind::docker, {}),
                 std::invalid_argument);
}

TEST(Platforms, Parse)
{
    using V = std::vector<Arch>;
    EXPECT_EQ(parse_platforms("linux/amd64"), V{Arch::amd64});
    EXPECT_EQ(parse_platforms("linux/amd64,linux/arm64"),
              (V{Arch::amd64, Arch::arm64}));
    EXPECT_EQ(parse_platforms(" linux/arm64/v8 , amd64"),
              (V{Arch::amd64, Arch::arm64}));
    EXPECT_EQ(parse_platforms("arm64,linux/amd64"),
              (V{Arch::amd64, Arch::arm64}));
    EXPECT_EQ(format_platforms({Arch::amd64, Arch::arm64}),
              "linux/amd64,linux/arm64/v8");
}

TEST(Platforms, RefusedWithAReason)
{
    auto why = [](std::string_view text) {
        try {
            parse_platforms(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(why("linux/arm64"), "the platforms must include linux/amd64, "
                                  "the default platform");
    EXPECT_EQ(why("linux/amd64,linux/s390x"),
              "unknown platform 'linux/s390x' (known: linux/amd64, "
              "linux/arm64)");
    EXPECT_EQ(why("linux/amd64,amd64"), "platform 'amd64' given twice");
    EXPECT_EQ(why(""), "unknown platform '' (known: linux/amd64, "
                       "linux/arm64)");
    EXPECT_EQ(why("linux/amd64,"), "unknown platform '' (known: "
                                   "linux/amd64, linux/arm64)");
    EXPECT_EQ(why("linux/arm/v7,linux/amd64"),
              "unknown platform 'linux/arm/v7' (known: linux/amd64, "
              "linux/arm64)");
}

} // namespace
} // namespace nixery
