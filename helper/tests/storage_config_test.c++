// The storage configuration from the environment (storage/config.h): which
// backend, which variables each needs, and errors that name the variable
// without the value of a secret.
#include "temp_tree.h"

#include "storage/config.h"

#include <gtest/gtest.h>

#include <map>

namespace nixery::test {
namespace {

using Env = std::map<std::string, std::string, std::less<>>;

EnvLookup lookup(const Env& env)
{
    return [&env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end() || it->second.empty()) {
            return std::nullopt;
        }
        return it->second;
    };
}

// The error message of a configuration that must be refused.
std::string refusal(const Env& env,
                    const std::optional<std::string>& flag = std::nullopt)
{
    try {
        storage_config_from_env(flag, lookup(env));
    } catch (const StorageError& e) {
        return e.what();
    }
    ADD_FAILURE() << "accepted";
    return {};
}

const Env s3_env = {{"NIXERY_STORAGE_BACKEND", "s3"},
                    {"S3_BUCKET", "images"},
                    {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                    {"AWS_SECRET_ACCESS_KEY", "TopSecret/Value+1"}};

TEST(StorageConfig, FilesystemFromTheFlagThenTheVariable)
{
    Env env = {{"NIXERY_STORAGE_PATH", "/srv/env"}};
    StorageConfig c = storage_config_from_env("/srv/flag", lookup(env));
    EXPECT_EQ(c.backend, StorageBackend::filesystem);
    EXPECT_EQ(c.root, "/srv/flag");
    c = storage_config_from_env(std::nullopt, lookup(env));
    EXPECT_EQ(c.root, "/srv/env");
    env["NIXERY_STORAGE_BACKEND"] = "filesystem";
    EXPECT_EQ(storage_config_from_env(std::nullopt, lookup(env)).root,
              "/srv/env");
}

TEST(StorageConfig, NoStorageAtAllSaysWhatToGive)
{
    std::string m = refusal({});
    EXPECT_NE(m.find("--storage DIR"), std::string::npos) << m;
    EXPECT_NE(m.find("NIXERY_STORAGE_PATH"), std::string::npos) << m;
}

TEST(StorageConfig, AnUnknownBackendIsNamed)
{
    std::string m = refusal({{"NIXERY_STORAGE_BACKEND", "azure"}});
    EXPECT_NE(m.find("NIXERY_STORAGE_BACKEND"), std::string::npos) << m;
    EXPECT_NE(m.find("'azure'"), std::string::npos) << m;
}

TEST(StorageConfig, S3WithDefaults)
{
    StorageConfig c = storage_config_from_env(std::nullopt, lookup(s3_env));
    EXPECT_EQ(c.backend, StorageBackend::s3);
    EXPECT_EQ(c.s3.bucket, "images");
    EXPECT_EQ(c.s3.region, "us-east-1");
    EXPECT_EQ(c.s3.credentials.access_key_id, "AKIDEXAMPLE");
    EXPECT_EQ(c.s3.credentials.secret_access_key, "TopSecret/Value+1");
    EXPECT_EQ(c.s3.credentials.session_token, "");
    EXPECT_EQ(c.s3.endpoint, "");
    EXPECT_FALSE(c.s3.force_path_style);
    EXPECT_EQ(c.s3.local_tmp, default_bucket_local_tmp());
}

TEST(StorageConfig, S3WithEverything)
{
    Env env = s3_env;
    env["AWS_REGION"] = "eu-west-3";
    env["AWS_SESSION_TOKEN"] = "token";
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:7480";
    env["S3_FORCE_PATH_STYLE"] = "true";
    env["NIXERY_STORAGE_TMP"] = "/var/tmp/up";
    StorageConfig c = storage_config_from_env(std::nullopt, lookup(env));
    EXPECT_EQ(c.s3.region, "eu-west-3");
    EXPECT_EQ(c.s3.credentials.session_token, "token");
    EXPECT_EQ(c.s3.endpoint, "http://127.0.0.1:7480");
    EXPECT_TRUE(c.s3.force_path_style);
    EXPECT_EQ(c.s3.local_tmp, "/var/tmp/up");
}

TEST(StorageConfig, S3NamesEachMissingVariable)
{
    for (const char* name :
         {"S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}) {
        Env env = s3_env;
        env.erase(name);
        std::string m = refusal(env);
        EXPECT_NE(m.find(std::string(name) + " is not set"), std::string::npos)
            << m;
        EXPECT_EQ(m.find("TopSecret"), std::string::npos) << m;
    }
}

TEST(StorageConfig, S3NamesBadValues)
{
    std::vector<std::pair<std::string, std::string>> bad = {
        {"S3_BUCKET", "a/b"},
        {"AWS_REGION", "eu west"},
        {"AWS_ENDPOINT_URL", "127.0.0.1:7480"},
        {"S3_FORCE_PATH_STYLE", "maybe"}};
    for (const auto& [name, value] : bad) {
        Env env = s3_env;
        env[name] = value;
        std::string m = refusal(env);
        EXPECT_NE(m.find(name), std::string::npos) << m;
        EXPECT_NE(m.find("'" + value + "'"), std::string::npos) << m;
        EXPECT_EQ(m.find("TopSecret"), std::string::npos) << m;
    }
}

TEST(StorageConfig, TheStorageFlagIsForTheFilesystemOnly)
{
    std::string m = refusal(s3_env, "/srv/nixery");
    EXPECT_NE(m.find("--storage"), std::string::npos) << m;
}

TEST(StorageConfig, Gcs)
{
    Env env = {{"NIXERY_STORAGE_BACKEND", "gcs"},
               {"GCS_BUCKET", "images"},
               {"GOOGLE_APPLICATION_CREDENTIALS", "/etc/nixery/key.json"}};
    StorageConfig c = storage_config_from_env(std::nullopt, lookup(env));
    EXPECT_EQ(c.backend, StorageBackend::gcs);
    EXPECT_EQ(c.gcs.bucket, "images");
    EXPECT_EQ(c.gcs.key_file, "/etc/nixery/key.json");
    EXPECT_EQ(c.gcs.endpoint, "https://storage.googleapis.com");
    env["GCS_ENDPOINT_URL"] = "http://127.0.0.1:4443";
    c = storage_config_from_env(std::nullopt, lookup(env));
    EXPECT_EQ(c.gcs.endpoint, "http://127.0.0.1:4443");
    for (const char* name : {"GCS_BUCKET", "GOOGLE_APPLICATION_CREDENTIALS"}) {
        Env missing = env;
        missing.erase(name);
        EXPECT_NE(refusal(missing).find(std::string(name) + " is not set"),
                  std::string::npos);
    }
    env["GCS_ENDPOINT_URL"] = "storage.example";
    EXPECT_NE(refusal(env).find("GCS_ENDPOINT_URL"), std::string::npos);
}

TEST(StorageConfig, OpensTheNamedBackend)
{
    TempDir dir;
    auto fs = open_storage_from_env(dir.path(), lookup({}));
    EXPECT_EQ(fs->describe(), "filesystem " + dir.path());
    Env env = s3_env;
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:7480";
    env["NIXERY_STORAGE_TMP"] = dir.path() + "/up";
    auto s3 = open_storage_from_env(std::nullopt, lookup(env));
    EXPECT_EQ(s3->describe(), "s3 bucket images at http://127.0.0.1:7480");
    EXPECT_EQ(s3->local_tmp(), dir.path() + "/up");
    Env gcs = {{"NIXERY_STORAGE_BACKEND", "gcs"},
               {"GCS_BUCKET", "images"},
               {"GOOGLE_APPLICATION_CREDENTIALS", dir.path() + "/none.json"}};
    try {
        open_storage_from_env(std::nullopt, lookup(gcs));
        FAIL() << "a missing key file was accepted";
    } catch (const StorageError& e) {
        EXPECT_NE(std::string(e.what()).find(dir.path() + "/none.json"),
                  std::string::npos)
            << e.what();
    }
}

} // namespace
} // namespace nixery::test
