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

// --- Lists: choose_manifests() ---------------------------------------------

constexpr std::string_view docker_list = media::docker_manifest_list;
constexpr std::string_view oci_index = media::oci_index;

// The kind served for an image with lists.
ManifestKind with_lists(const Lines& lines)
{
    return choose_manifests(lines).kind(true);
}

TEST(ChooseManifests, KindsHaveTheirMediaTypesAndDirectories)
{
    EXPECT_EQ(manifest_media_type(ManifestKind::docker_list),
              "application/vnd.docker.distribution.manifest.list.v2+json");
    EXPECT_EQ(manifest_media_type(ManifestKind::oci_index),
              "application/vnd.oci.image.index.v1+json");
    EXPECT_EQ(manifest_kind_name(ManifestKind::docker_list), "docker-list");
    EXPECT_EQ(manifest_kind_name(ManifestKind::oci_index), "oci-index");
    EXPECT_EQ(list_member_kind(ManifestKind::docker_list),
              ManifestKind::docker);
    EXPECT_EQ(list_member_kind(ManifestKind::oci_index), ManifestKind::oci);
    EXPECT_EQ(list_member_kind(ManifestKind::oci), ManifestKind::oci);
    EXPECT_TRUE(is_list_kind(ManifestKind::oci_index));
    EXPECT_FALSE(is_list_kind(ManifestKind::docker));
}

TEST(ChooseManifests, RealClientsGetTheDockerList)
{
    // containers/image (skopeo, podman), containerd, Docker: all name both
    // lists; Docker's family first, as for single manifests.
    Lines six{oci,
              docker,
              "application/vnd.docker.distribution.manifest.v1+prettyjws",
              "application/vnd.docker.distribution.manifest.v1+json",
              docker_list,
              oci_index};
    EXPECT_EQ(with_lists(six), ManifestKind::docker_list);
    EXPECT_EQ(with_lists({"application/vnd.docker.distribution.manifest.v2+"
                          "json, application/vnd.docker.distribution.manifest."
                          "list.v2+json, application/vnd.oci.image.manifest."
                          "v1+json, application/vnd.oci.image.index.v1+json, "
                          "*/*"}),
              ManifestKind::docker_list);
}

TEST(ChooseManifests, OciOnlyClientsGetTheOciIndex)
{
    EXPECT_EQ(with_lists({oci, oci_index}), ManifestKind::oci_index);
    EXPECT_EQ(with_lists({"APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON"}),
              ManifestKind::oci_index);
    EXPECT_EQ(with_lists({std::string(oci) + ", " + std::string(oci_index)}),
              ManifestKind::oci_index);
    // Refusing the Docker list leaves the OCI index.
    EXPECT_EQ(with_lists({std::string(docker_list) + ";q=0", oci_index}),
              ManifestKind::oci_index);
}

TEST(ChooseManifests, SingleManifestClientsGetTheDefaultPlatformsManifest)
{
    // No list named: the single manifest, as before lists existed.
    EXPECT_EQ(with_lists({}), ManifestKind::docker);
    EXPECT_EQ(with_lists({docker}), ManifestKind::docker);
    EXPECT_EQ(with_lists({oci}), ManifestKind::oci);
    EXPECT_EQ(with_lists({"*/*"}), ManifestKind::docker);
    EXPECT_EQ(with_lists({"application/*"}), ManifestKind::docker);
    EXPECT_EQ(with_lists({std::string(docker_list) + ";q=0",
                          std::string(oci_index) + "; q=0.0", oci}),
              ManifestKind::oci);
}

TEST(ChooseManifests, AnImageWithoutListsIgnoresThem)
{
    for (const Lines& lines :
         {Lines{docker_list}, Lines{oci_index}, Lines{docker, docker_list},
          Lines{oci, oci_index}, Lines{oci_index, "*/*"}}) {
        ManifestChoice c = choose_manifests(lines);
        EXPECT_FALSE(is_list_kind(c.kind(false)));
        EXPECT_EQ(c.kind(false), choose_manifest_kind(lines));
    }
    // A client that names only a list still gets a manifest it can read
    // from the image without lists: Docker, the most widely understood.
    EXPECT_EQ(choose_manifests({oci_index}).kind(false), ManifestKind::docker);
}

} // namespace
} // namespace nixery
