#include "io/remote_config.h"

#include <cstdio>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "testing/test_util.h"

namespace tfckpt {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(RemoteAddress, ParsesBucketsKeysAndUrls) {
  RemoteAddress a;
  ASSERT_TRUE(ParseRemoteAddress("s3://my-bucket/dir/model.ckpt-100", &a).ok());
  EXPECT_EQ(a.kind, RemoteAddress::Kind::kS3);
  EXPECT_EQ(a.bucket, "my-bucket");
  EXPECT_EQ(a.key, "dir/model.ckpt-100");
  ASSERT_TRUE(ParseRemoteAddress("gs://tpu_runs/x", &a).ok());
  EXPECT_EQ(a.kind, RemoteAddress::Kind::kGs);
  ASSERT_TRUE(ParseRemoteAddress("https://host/a/b", &a).ok());
  EXPECT_EQ(a.kind, RemoteAddress::Kind::kHttp);
  EXPECT_EQ(a.url, "https://host/a/b");
  Status s = ParseRemoteAddress("s3://Bad_Bucket/x", &a);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("valid bucket"), std::string::npos) << s.message();
  EXPECT_FALSE(ParseRemoteAddress("s3://ab/x", &a).ok());  // too short
  EXPECT_FALSE(ParseRemoteAddress("https:///path", &a).ok());
  EXPECT_TRUE(IsRemotePath("s3://b/k"));
  EXPECT_TRUE(IsRemotePath("gs://b/k"));
  EXPECT_TRUE(IsRemotePath("http://h/k"));
  EXPECT_FALSE(IsRemotePath("s3:/b/k"));
  EXPECT_FALSE(IsRemotePath("/tmp/s3://x"));
}

TEST(RemoteConfig, EnvironmentComesFirstAndSecretsStayOutOfTheSource) {
  RemoteConfig c;
  ASSERT_TRUE(LoadRemoteConfig(RemoteAddress::Kind::kS3, "",
                               Env({{"AWS_ACCESS_KEY_ID", "AKID"},
                                    {"AWS_SECRET_ACCESS_KEY", "s3cr3t"},
                                    {"AWS_SESSION_TOKEN", "tok"},
                                    {"AWS_REGION", "eu-west-1"},
                                    {"AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"}}),
                               &c)
                  .ok());
  EXPECT_EQ(c.credentials.access_key, "AKID");
  EXPECT_EQ(c.credentials.secret_key, "s3cr3t");
  EXPECT_EQ(c.credentials.session_token, "tok");
  EXPECT_EQ(c.credentials.source.find("s3cr3t"), std::string::npos);
  EXPECT_NE(c.credentials.source.find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_EQ(c.region, "eu-west-1");
  EXPECT_EQ(c.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c.endpoint_source, "AWS_ENDPOINT_URL");
  EXPECT_TRUE(c.path_style);

  // The endpoint option beats the environment.
  ASSERT_TRUE(LoadRemoteConfig(RemoteAddress::Kind::kS3, "http://other:1",
                               Env({{"AWS_ENDPOINT_URL", "http://127.0.0.1:9000"}}), &c)
                  .ok());
  EXPECT_EQ(c.endpoint, "http://other:1");
  EXPECT_TRUE(c.credentials.access_key.empty());  // anonymous

  // Without an endpoint: AWS, virtual-host style, in the region.
  ASSERT_TRUE(LoadRemoteConfig(RemoteAddress::Kind::kS3, "", Env({}), &c).ok());
  EXPECT_EQ(c.endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(c.path_style);
  RemoteAddress a;
  ASSERT_TRUE(ParseRemoteAddress("s3://bkt/dir/a b+c~.index", &a).ok());
  EXPECT_EQ(ObjectUrl(c, a), "https://bkt.s3.us-east-1.amazonaws.com/dir/a%20b%2Bc~.index");

  // gs:// takes HMAC keys of its own and Google's endpoint.
  ASSERT_TRUE(LoadRemoteConfig(RemoteAddress::Kind::kGs, "",
                               Env({{"GS_ACCESS_KEY_ID", "GOOG1"},
                                    {"GS_SECRET_ACCESS_KEY", "x"},
                                    {"AWS_ACCESS_KEY_ID", "AKID"},
                                    {"AWS_SECRET_ACCESS_KEY", "y"}}),
                               &c)
                  .ok());
  EXPECT_EQ(c.credentials.access_key, "GOOG1");
  EXPECT_EQ(c.endpoint, "https://storage.googleapis.com");
  ASSERT_TRUE(ParseRemoteAddress("gs://bkt/k", &a).ok());
  EXPECT_EQ(ObjectUrl(c, a), "https://storage.googleapis.com/bkt/k");

  Status s =
      LoadRemoteConfig(RemoteAddress::Kind::kS3, "", Env({{"AWS_ACCESS_KEY_ID", "AKID"}}), &c);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  s = LoadRemoteConfig(RemoteAddress::Kind::kS3, "ftp://x", Env({}), &c);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
}

TEST(RemoteConfig, ProfilesOfTheSharedFiles) {
  const std::string dir = testing::TempDir();
  const std::string credentials = dir + "/credentials";
  const std::string config = dir + "/config";
  std::ofstream(credentials) << "# comment\n[default]\naws_access_key_id = DEF\n"
                                "aws_secret_access_key = defsecret\n\n[ci]\n"
                                "aws_access_key_id=CIKEY\naws_secret_access_key=cisecret\n";
  std::ofstream(config) << "[default]\nregion = ap-south-1\n[profile ci]\nregion = eu-north-1\n"
                           "endpoint_url = http://minio:9000\n";
  RemoteConfig c;
  auto env = [&](std::map<std::string, std::string> more) {
    more["AWS_SHARED_CREDENTIALS_FILE"] = credentials;
    more["AWS_CONFIG_FILE"] = config;
    return Env(more);
  };
  ASSERT_TRUE(LoadRemoteConfig(RemoteAddress::Kind::kS3, "", env({}), &c).ok());
  EXPECT_EQ(c.credentials.access_key, "DEF");
  EXPECT_EQ(c.region, "ap-south-1");
  EXPECT_NE(c.credentials.source.find("profile 'default'"), std::string::npos);
  ASSERT_TRUE(
      LoadRemoteConfig(RemoteAddress::Kind::kS3, "", env({{"AWS_PROFILE", "ci"}}), &c).ok());
  EXPECT_EQ(c.credentials.access_key, "CIKEY");
  EXPECT_EQ(c.credentials.secret_key, "cisecret");
  EXPECT_EQ(c.region, "eu-north-1");
  EXPECT_EQ(c.endpoint, "http://minio:9000");
  Status s = LoadRemoteConfig(RemoteAddress::Kind::kS3, "", env({{"AWS_PROFILE", "nope"}}), &c);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'nope'"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tfckpt
