// The XML of S3 and GCS's XML API (storage/bucket_xml.h), on documents
// shaped as the services send them.
#include "storage/bucket_xml.h"

#include <gtest/gtest.h>

namespace nixery::test {
namespace {

TEST(BucketXml, ListPageWithS3Namespace)
{
    ListPage p = parse_list_page(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>images</Name><Prefix>layers/</Prefix><KeyCount>2</KeyCount>"
        "<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
        "</NextContinuationToken>"
        "<Contents><Key>layers/01/a</Key>"
        "<LastModified>2024-05-06T07:08:09.123Z</LastModified>"
        "<ETag>&quot;abc&quot;</ETag><Size>1</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>layers/02/b&amp;c</Key>"
        "<LastModified>1970-01-01T00:00:00Z</LastModified>"
        "<Size>18446744073709551615</Size></Contents>"
        "</ListBucketResult>");
    ASSERT_EQ(p.objects.size(), 2u);
    EXPECT_EQ(p.objects[0].key, "layers/01/a");
    EXPECT_EQ(p.objects[0].size, 1u);
    EXPECT_EQ(p.objects[0].mtime, 1714979289);
    EXPECT_EQ(p.objects[1].key, "layers/02/b&c");
    EXPECT_EQ(p.objects[1].size, 18446744073709551615u);
    EXPECT_EQ(p.objects[1].mtime, 0);
    EXPECT_TRUE(p.truncated);
    EXPECT_EQ(p.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(BucketXml, EmptyLastPage)
{
    ListPage p = parse_list_page("<ListBucketResult><IsTruncated>false"
                                 "</IsTruncated></ListBucketResult>");
    EXPECT_TRUE(p.objects.empty());
    EXPECT_FALSE(p.truncated);
    EXPECT_EQ(p.next_token, "");
}

TEST(BucketXml, BadListingsAreErrors)
{
    for (const char* bad :
         {"", "not xml", "<Error><Code>AccessDenied</Code></Error>",
          "<ListBucketResult><Contents><Size>1</Size><LastModified>"
          "2024-05-06T07:08:09Z</LastModified></Contents></ListBucketResult>",
          "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
          "<LastModified>2024-05-06T07:08:09Z</LastModified></Contents>"
          "</ListBucketResult>",
          "<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
          "<LastModified>yesterday</LastModified></Contents>"
          "</ListBucketResult>"}) {
        EXPECT_THROW(parse_list_page(bad), StorageError) << bad;
    }
}

TEST(BucketXml, ErrorCodeOnly)
{
    std::string doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
        "<Code>SignatureDoesNotMatch</Code><Message>The request signature"
        "</Message><StringToSign>AWS4-HMAC-SHA256...</StringToSign>"
        "<SignatureProvided>0123abcd</SignatureProvided></Error>";
    EXPECT_EQ(parse_error_code(doc), "SignatureDoesNotMatch");
    EXPECT_EQ(parse_error_code(""), "");
    EXPECT_EQ(parse_error_code("<html>busy</html>"), "");
    EXPECT_EQ(parse_error_code("<Error><Code>a b</Code></Error>"),
              "(malformed code)");
    EXPECT_EQ(xml_root_name(doc), "Error");
    EXPECT_EQ(xml_root_name("<CompleteMultipartUploadResult xmlns=\"x\"/>"),
              "CompleteMultipartUploadResult");
}

TEST(BucketXml, UploadId)
{
    EXPECT_EQ(parse_upload_id(
                  "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws"
                  ".com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
                  "<UploadId>2~abc.DEF-</UploadId>"
                  "</InitiateMultipartUploadResult>"),
              "2~abc.DEF-");
    EXPECT_THROW(parse_upload_id("<Error><Code>x</Code></Error>"),
                 StorageError);
}

TEST(BucketXml, CompleteBodyListsPartsInOrder)
{
    EXPECT_EQ(complete_multipart_body({"\"a1\"", "\"b<2>\""}),
              "<CompleteMultipartUpload>"
              "<Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag>"
              "</Part><Part><PartNumber>2</PartNumber>"
              "<ETag>&quot;b&lt;2&gt;&quot;</ETag></Part>"
              "</CompleteMultipartUpload>");
}

TEST(BucketXml, Times)
{
    EXPECT_EQ(parse_xml_time("2024-02-29T23:59:59Z"), 1709251199);
    EXPECT_EQ(parse_xml_time("2024-02-29T23:59:59.5Z"), 1709251199);
    for (const char* bad :
         {"", "2024-02-29", "2024-02-29T23:59:59", "2024-13-01T00:00:00Z",
          "2024-02-29T23:59:59.Z", "2024-02-29T23:59:59+01:00"}) {
        EXPECT_EQ(parse_xml_time(bad), std::nullopt) << bad;
    }
}

} // namespace
} // namespace nixery::test
