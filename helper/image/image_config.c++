#include "image/image_config.h"
#include "base/closure.h"
#include "json.h"

#include "image/popularity.h"

#include <jansson.h>

#include <algorithm>
#include <stdexcept>

namespace nixery {

namespace {

void set(json_t* obj, const char* key, json_t* value)
{
    if (value == nullptr || json_object_set_new(obj, key, value) != 0) {
        throw std::runtime_error("json: cannot build object");
    }
}

void append(json_t* array, json_t* value)
{
    if (value == nullptr || json_array_append_new(array, value) != 0) {
        throw std::runtime_error("json: cannot build array");
    }
}

std::string dump(const JsonPtr& j)
{
    return json_dump(j.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

json_t* descriptor(std::string_view media_type, const Descriptor& d)
{
    json_t* o = json_object();
    set(o, "mediaType", lossy_json_string(media_type));
    set(o, "size", json_integer(static_cast<json_int_t>(d.size)));
    set(o, "digest", lossy_json_string("sha256:" + d.digest_hex));
    return o;
}

} // namespace

std::string image_config_json(Arch arch, const std::vector<ConfigLayer>& layers,
                              bool bash)
{
    JsonPtr root(json_object());
    set(root.get(), "architecture", lossy_json_string(arch_name(arch)));
    set(root.get(), "os", lossy_json_string("linux"));
    set(root.get(), "created", lossy_json_string(image_created));
    json_t* config = json_object();
    set(root.get(), "config", config);
    json_t* env = json_array();
    set(config, "Env", env);
    append(env, lossy_json_string(image_path_env));
    append(env, lossy_json_string(image_ssl_env));
    if (bash) {
        json_t* cmd = json_array();
        set(config, "Cmd", cmd);
        append(cmd, lossy_json_string("bash"));
    }
    json_t* rootfs = json_object();
    set(root.get(), "rootfs", rootfs);
    set(rootfs, "type", lossy_json_string("layers"));
    json_t* diff_ids = json_array();
    set(rootfs, "diff_ids", diff_ids);
    json_t* history = json_array();
    set(root.get(), "history", history);
    for (const ConfigLayer& l : layers) {
        append(diff_ids, lossy_json_string("sha256:" + l.diff_id_hex));
        json_t* h = json_object();
        set(h, "created", lossy_json_string(image_created));
        set(h, "created_by", lossy_json_string(l.description));
        append(history, h);
    }
    return dump(root);
}

std::string manifest_json(ManifestKind kind, const Descriptor& config,
                          const std::vector<Descriptor>& layers)
{
    bool oci = kind == ManifestKind::oci;
    JsonPtr root(json_object());
    set(root.get(), "schemaVersion", json_integer(2));
    set(root.get(), "mediaType", lossy_json_string(manifest_media_type(kind)));
    set(root.get(), "config",
        descriptor(oci ? media::oci_config : media::docker_config, config));
    json_t* array = json_array();
    set(root.get(), "layers", array);
    for (const Descriptor& l : layers) {
        append(array,
               descriptor(oci ? media::oci_layer : media::docker_layer, l));
    }
    return dump(root);
}

std::string describe_store_layer(const std::vector<std::string>& paths)
{
    // Package names in name order (store paths sort by hash).
    std::vector<std::string_view> names;
    for (const std::string& p : paths) {
        names.push_back(store_path_name(p));
    }
    std::sort(names.begin(), names.end());
    constexpr std::size_t shown = 8;
    std::string out = "nixery: store paths ";
    for (std::size_t i = 0; i < names.size() && i < shown; ++i) {
        if (i > 0) {
            out += ", ";
        }
        out += names[i];
    }
    if (names.size() > shown) {
        out += " and " + std::to_string(names.size() - shown) + " more";
    }
    return out;
}

} // namespace nixery
