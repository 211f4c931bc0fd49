#include "image/image_config.h"

#include <gtest/gtest.h>
#include <jansson.h>

namespace nixery {
namespace {

struct Parsed {
    json_t* j;
    explicit Parsed(const std::string& s) : j(json_loads(s.c_str(), 0, nullptr))
    {
    }
    ~Parsed() { json_decref(j); }
    json_t* at(const char* path) const
    {
        json_t* cur = j;
        std::string p = path;
        std::size_t start = 0;
        while (cur != nullptr && start <= p.size()) {
            std::size_t dot = p.find('.', start);
            std::string key = p.substr(start, dot - start);
            cur = json_is_array(cur) ? json_array_get(cur, std::stoul(key))
                                     : json_object_get(cur, key.c_str());
            if (dot == std::string::npos) {
                break;
            }
            start = dot + 1;
        }
        return cur;
    }
    std::string str(const char* path) const
    {
        const char* s = json_string_value(at(path));
        return s ? s : "<none>";
    }
};

TEST(ImageConfig, Fields)
{
    std::string hex(64, 'a');
    std::string c = image_config_json(
        Arch::arm64, {{hex, "nixery: store paths x"}, {hex, "symlinks"}}, true);
    Parsed p(c);
    ASSERT_NE(p.j, nullptr);
    EXPECT_EQ(p.str("architecture"), "arm64");
    EXPECT_EQ(p.str("os"), "linux");
    EXPECT_EQ(p.str("created"), image_created);
    EXPECT_EQ(p.str("rootfs.type"), "layers");
    EXPECT_EQ(p.str("rootfs.diff_ids.1"), "sha256:" + hex);
    EXPECT_EQ(p.str("config.Cmd.0"), "bash");
    EXPECT_EQ(p.str("config.Env.0"), image_path_env);
    EXPECT_EQ(p.str("config.Env.1"), image_ssl_env);
    EXPECT_EQ(json_array_size(p.at("history")), 2u);
    EXPECT_EQ(p.str("history.0.created_by"), "nixery: store paths x");
    // No Cmd without bash; same inputs, same bytes.
    std::string n = image_config_json(Arch::amd64, {{hex, "x"}}, false);
    EXPECT_EQ(Parsed(n).at("config.Cmd"), nullptr);
    EXPECT_EQ(n, image_config_json(Arch::amd64, {{hex, "x"}}, false));
    EXPECT_EQ(n.find(' '), std::string::npos);
}

TEST(ImageConfig, ManifestsUseTheirOwnMediaTypes)
{
    Descriptor config{std::string(64, 'c'), 123};
    std::vector<Descriptor> layers{{std::string(64, '1'), 10},
                                   {std::string(64, '2'), 20}};
    Parsed d(manifest_json(ManifestKind::docker, config, layers));
    EXPECT_EQ(json_integer_value(d.at("schemaVersion")), 2);
    EXPECT_EQ(d.str("mediaType"), media::docker_manifest);
    EXPECT_EQ(d.str("config.mediaType"), media::docker_config);
    EXPECT_EQ(d.str("config.digest"), "sha256:" + std::string(64, 'c'));
    EXPECT_EQ(json_integer_value(d.at("config.size")), 123);
    EXPECT_EQ(d.str("layers.1.mediaType"), media::docker_layer);
    EXPECT_EQ(json_integer_value(d.at("layers.1.size")), 20);
    Parsed o(manifest_json(ManifestKind::oci, config, layers));
    EXPECT_EQ(o.str("mediaType"), media::oci_manifest);
    EXPECT_EQ(o.str("config.mediaType"), media::oci_config);
    EXPECT_EQ(o.str("layers.0.mediaType"), media::oci_layer);
    EXPECT_EQ(o.str("layers.0.digest"), "sha256:" + std::string(64, '1'));
}

TEST(ImageConfig, DescribesLayers)
{
    std::vector<std::string> paths;
    for (int i = 0; i < 10; ++i) {
        paths.push_back("/nix/store/h" + std::to_string(9 - i) + "-pkg" +
                        std::to_string(i) + "-1.0");
    }
    std::string d = describe_store_layer(paths);
    EXPECT_NE(d.find("pkg0-1.0, pkg1-1.0"), std::string::npos);
    EXPECT_NE(d.find("and 2 more"), std::string::npos);
    EXPECT_EQ(d.find("/nix/store"), std::string::npos);
}

} // namespace
} // namespace nixery
