#include "io/sigv4.h"

#include <gtest/gtest.h>

namespace tfckpt {
namespace {

// 2013-05-24T00:00:00Z, the time of the examples in AWS's "Signature Calculations for the
// Authorization Header" (Amazon S3 API reference), whose keys and signatures are public.
constexpr std::time_t kExampleTime = 1369353600;

const SigV4Key kExampleKey = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                              "us-east-1", "s3"};

TEST(SigV4Test, GetObjectExampleOfTheS3Documentation) {
  SigV4Request r;
  r.method = "GET";
  r.host = "examplebucket.s3.amazonaws.com";
  r.path = "/test.txt";
  r.headers = {"Range: bytes=0-9"};
  r.payload_hash = Sha256Hex("");
  const std::vector<std::string> got = SignV4(r, kExampleKey, kExampleTime);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "X-Amz-Date: 20130524T000000Z");
  EXPECT_EQ(got[1],
            "X-Amz-Content-Sha256: "
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(got[2],
            "Authorization: AWS4-HMAC-SHA256 "
            "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, HeadersAreSortedByNameNotByLine) {
  // The same request with its headers in either order signs alike, and the signed list puts
  // x-amz-copy-source before x-amz-copy-source-range.
  SigV4Request r;
  r.method = "PUT";
  r.host = "127.0.0.1:8333";
  r.path = "/b/out";
  r.query = "uploadId=abc&partNumber=2";
  r.payload_hash = "UNSIGNED-PAYLOAD";
  r.headers = {"x-amz-copy-source-range: bytes=0-9", "x-amz-copy-source: b/in"};
  const std::vector<std::string> a = SignV4(r, kExampleKey, kExampleTime);
  r.headers = {"X-Amz-Copy-Source:  b/in ", "x-amz-copy-source-range: bytes=0-9"};
  r.query = "partNumber=2&uploadId=abc";
  const std::vector<std::string> b = SignV4(r, kExampleKey, kExampleTime);
  EXPECT_EQ(a, b);
  EXPECT_NE(a[2].find("SignedHeaders=host;x-amz-content-sha256;x-amz-copy-source;"
                      "x-amz-copy-source-range;x-amz-date,"),
            std::string::npos)
      << a[2];
}

TEST(SigV4Test, TargetOfAUrl) {
  SigV4Request r;
  SetSigV4Target("http://127.0.0.1:8333/b/k%20x?partNumber=1&uploadId=a", &r);
  EXPECT_EQ(r.host, "127.0.0.1:8333");
  EXPECT_EQ(r.path, "/b/k%20x");
  EXPECT_EQ(r.query, "partNumber=1&uploadId=a");
  SetSigV4Target("https://bucket.s3.amazonaws.com", &r);
  EXPECT_EQ(r.host, "bucket.s3.amazonaws.com");
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(r.query, "");
}

TEST(SigV4Test, WhichHeadersLibcurlMissigns) {
  EXPECT_TRUE(
      CurlMissignsHeaders({"x-amz-copy-source: b/k", "x-amz-copy-source-range: bytes=0-1"}));
  EXPECT_FALSE(CurlMissignsHeaders({"x-amz-copy-source: b/k"}));
  EXPECT_FALSE(CurlMissignsHeaders({"If-Match: \"e\"", "x-amz-security-token: t"}));
  EXPECT_FALSE(CurlMissignsHeaders({}));
}

}  // namespace
}  // namespace tfckpt
