// The XML a bucket (S3, GCS) answers the helper with: list pages, the
// upload id of a multipart upload, error codes, times. Properties: what a
// list page yields are storage objects with non-negative sizes; errors are
// StorageError only.
#include "fuzz.h"

#include "storage/bucket_xml.h"
#include "storage/storage.h"

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    try {
        ListPage page = parse_list_page(in);
        for (const StoredObject& o : page.objects) {
            require(!o.key.empty());
        }
    } catch (const StorageError&) {
    }
    try {
        require(!parse_upload_id(in).empty());
    } catch (const StorageError&) {
    }
    std::string root = xml_root_name(in);
    std::string code = parse_error_code(in);
    require(code.empty() || root == "Error");
    (void)parse_xml_time(in);
    return 0;
}
