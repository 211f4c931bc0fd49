#include "media_types.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace nixery {
namespace {

using Lines = std::vector<std::string_view>;

constexpr std::string_view docker = media::docker_manifest;
constexpr std::string_view oci = media::oci_manifest;

ManifestKind choose(const Lines& lines)
{
    return choose_manifest_kind(lines);
}

TEST(ChooseManifestKind, NothingAskedIsDocker)
{
    EXPECT_EQ(choose({}), ManifestKind::docker);
    EXPECT_EQ(choose({""}), ManifestKind::docker);
    EXPECT_EQ(choose({" , ,", "\t"}), ManifestKind::docker);
}

TEST(ChooseManifestKind, SkopeoAndPodmanSendOneTypePerLine)
{
    // containers/image: one Accept line per manifest type it reads, OCI
    // first.
    Lines six{oci,
              docker,
              "application/vnd.docker.distribution.manifest.v1+prettyjws",
              "application/vnd.docker.distribution.manifest.v1+json",
              "application/vnd.docker.distribution.manifest.list.v2+json",
              "application/vnd.oci.image.index.v1+json"};
    EXPECT_EQ(choose(six), ManifestKind::docker);
    // Without Docker schema 2 among them: OCI.
    Lines no_docker = six;
    no_docker.erase(no_docker.begin() + 1);
    EXPECT_EQ(choose(no_docker), ManifestKind::oci);
}

TEST(ChooseManifestKind, ContainerdSendsOneCommaJoinedLine)
{
    EXPECT_EQ(choose({"application/vnd.docker.distribution.manifest.v2+json, "
                      "application/vnd.docker.distribution.manifest.list.v2+"
                      "json, application/vnd.oci.image.manifest.v1+json, "
                      "application/vnd.oci.image.index.v1+json, */*"}),
              ManifestKind::docker);
    EXPECT_EQ(choose({"application/vnd.oci.image.manifest.v1+json,"
                      "application/vnd.oci.image.index.v1+json"}),
              ManifestKind::oci);
}

TEST(ChooseManifestKind, OnlyOci)
{
    EXPECT_EQ(choose({oci}), ManifestKind::oci);
    EXPECT_EQ(choose({"  application/vnd.oci.image.manifest.v1+json\t"}),
              ManifestKind::oci);
    EXPECT_EQ(choose({"APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON"}),
              ManifestKind::oci);
    EXPECT_EQ(choose({"application/json", oci}), ManifestKind::oci);
}

TEST(ChooseManifestKind, WildcardsAreDocker)
{
    EXPECT_EQ(choose({"*/*"}), ManifestKind::docker);
    EXPECT_EQ(choose({oci, "*/*"}), ManifestKind::docker);
    EXPECT_EQ(choose({oci, "Application/*"}), ManifestKind::docker);
    EXPECT_EQ(choose({"application/vnd.oci.image.manifest.v1+json, */*;q=0.1"}),
              ManifestKind::docker);
}

TEST(ChooseManifestKind, NothingKnownIsDocker)
{
    EXPECT_EQ(choose({"application/json"}), ManifestKind::docker);
    EXPECT_EQ(choose({"text/html, application/xml"}), ManifestKind::docker);
}

TEST(ChooseManifestKind, QZeroRefuses)
{
    for (std::string_view p : {";q=0", "; q=0", ";Q=0", ";q=0.0", ";q=0.000",
                               "; charset=utf-8; q=0", ";q=0\t"}) {
        std::string d = std::string(docker) + std::string(p);
        EXPECT_EQ(choose({d, oci}), ManifestKind::oci) << p;
        EXPECT_EQ(choose({d + ", " + std::string(oci)}), ManifestKind::oci)
            << p;
        std::string w = "*/*" + std::string(p);
        EXPECT_EQ(choose({w, oci}), ManifestKind::oci) << p;
    }
    // Refusing OCI leaves Docker, the fallback.
    EXPECT_EQ(choose({std::string(oci) + ";q=0"}), ManifestKind::docker);
}

TEST(ChooseManifestKind, OtherQValuesAccept)
{
    for (std::string_view p :
         {";q=1", ";q=0.5", ";q=0.001", ";q=", ";q", "; level=0"}) {
        std::string d = std::string(docker) + std::string(p);
        EXPECT_EQ(choose({d, oci}), ManifestKind::docker) << p;
    }
}

TEST(ChooseManifestKind, ParametersDoNotChangeTheType)
{
    EXPECT_EQ(choose({std::string(oci) + "; charset=utf-8"}),
              ManifestKind::oci);
    EXPECT_EQ(choose({std::string(oci) + "x"}), ManifestKind::docker);
    EXPECT_EQ(choose({std::string(oci).substr(1)}), ManifestKind::docker);
}

} // namespace
} // namespace nixery
