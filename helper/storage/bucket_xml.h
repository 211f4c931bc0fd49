// The XML that S3 and Google Cloud Storage's XML API speak, read with
// libxml2 and written by hand: ListObjectsV2 pages, the upload id of a new
// multipart upload, the CompleteMultipartUpload request, and the Code of an
// error document. Both services send the same documents (S3's namespace or
// none); elements are matched by local name.
#pragma once

#include "storage/storage.h"

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

struct ListPage {
    std::vector<StoredObject> objects; // Key, Size, LastModified
    bool truncated = false;            // IsTruncated
    std::string next_token;            // NextContinuationToken
};

// A ListBucketResult. Throws StorageError when it is not one, or an entry
// lacks a key or has a bad size or time.
ListPage parse_list_page(std::string_view xml);

// The UploadId of an InitiateMultipartUploadResult; throws StorageError.
std::string parse_upload_id(std::string_view xml);

// The name of the document's root element ("Error",
// "CompleteMultipartUploadResult"), empty when it is not XML.
std::string xml_root_name(std::string_view xml);

// The Code of an <Error> document, empty when it is not one. Only the
// code: S3's error documents also echo the string to sign and the
// signature, which must never reach a log.
std::string parse_error_code(std::string_view xml);

// <CompleteMultipartUpload> listing parts 1..n with these ETags.
std::string complete_multipart_body(const std::vector<std::string>& etags);

// "2024-05-06T07:08:09.123Z" (S3's LastModified) as unix seconds; nullopt
// when malformed.
std::optional<std::time_t> parse_xml_time(std::string_view text);

} // namespace nixery
