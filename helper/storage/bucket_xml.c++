#include "storage/bucket_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>

namespace nixery {

namespace {

struct DocFree {
    void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using Doc = std::unique_ptr<xmlDoc, DocFree>;

// libxml2 wants its parser initialised once before threads use it.
Doc read_xml(std::string_view xml)
{
    static std::once_flag once;
    std::call_once(once, [] { xmlInitParser(); });
    if (xml.empty() || xml.size() > 64u * 1024 * 1024) {
        return nullptr;
    }
    // No network, no entities from outside, no messages on stderr.
    return Doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()),
                             "bucket.xml", nullptr,
                             XML_PARSE_NONET | XML_PARSE_NOERROR |
                                 XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS));
}

bool named(const xmlNode* n, const char* name)
{
    return n->type == XML_ELEMENT_NODE &&
           std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

const xmlNode* child(const xmlNode* parent, const char* name)
{
    for (const xmlNode* c = parent->children; c != nullptr; c = c->next) {
        if (named(c, name)) {
            return c;
        }
    }
    return nullptr;
}

std::string text_of(const xmlNode* n)
{
    if (n == nullptr) {
        return {};
    }
    xmlChar* t = xmlNodeGetContent(n);
    std::string s = t ? reinterpret_cast<const char*>(t) : "";
    xmlFree(t);
    return s;
}

std::string child_text(const xmlNode* parent, const char* name)
{
    return text_of(child(parent, name));
}

const xmlNode* root_of(const Doc& doc)
{
    return doc ? xmlDocGetRootElement(doc.get()) : nullptr;
}

std::string xml_escape(std::string_view s)
{
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out)
{
    if (pos + n > s.size()) {
        return false;
    }
    const char* b = s.data() + pos;
    auto [end, ec] = std::from_chars(b, b + n, out);
    return ec == std::errc() && end == b + n;
}

} // namespace

std::optional<std::time_t> parse_xml_time(std::string_view s)
{
    std::tm tm{};
    int y, mo, d, h, mi, sec;
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s.back() != 'Z' ||
        !digits(s, 0, 4, y) || !digits(s, 5, 2, mo) || !digits(s, 8, 2, d) ||
        !digits(s, 11, 2, h) || !digits(s, 14, 2, mi) ||
        !digits(s, 17, 2, sec) || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || sec > 60) {
        return std::nullopt;
    }
    // Anything between the seconds and 'Z' must be a fraction.
    std::string_view frac = s.substr(19, s.size() - 20);
    if (!frac.empty() &&
        (frac[0] != '.' || frac.size() < 2 ||
         frac.substr(1).find_first_not_of("0123456789") != frac.npos)) {
        return std::nullopt;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return ::timegm(&tm);
}

ListPage parse_list_page(std::string_view xml)
{
    Doc doc = read_xml(xml);
    const xmlNode* root = root_of(doc);
    if (root == nullptr || !named(root, "ListBucketResult")) {
        throw StorageError("storage: the listing is not a ListBucketResult");
    }
    ListPage page;
    for (const xmlNode* c = root->children; c != nullptr; c = c->next) {
        if (!named(c, "Contents")) {
            continue;
        }
        StoredObject o;
        o.key = child_text(c, "Key");
        std::string size = child_text(c, "Size");
        auto [end, ec] =
            std::from_chars(size.data(), size.data() + size.size(), o.size);
        std::optional<std::time_t> mtime =
            parse_xml_time(child_text(c, "LastModified"));
        if (o.key.empty() || size.empty() || ec != std::errc() ||
            end != size.data() + size.size() || !mtime) {
            throw StorageError("storage: a listing entry lacks a key, a "
                               "size or a time: " +
                               o.key);
        }
        o.mtime = *mtime;
        page.objects.push_back(std::move(o));
    }
    page.truncated = child_text(root, "IsTruncated") == "true";
    page.next_token = child_text(root, "NextContinuationToken");
    return page;
}

std::string parse_upload_id(std::string_view xml)
{
    Doc doc = read_xml(xml);
    const xmlNode* root = root_of(doc);
    std::string id;
    if (root != nullptr && named(root, "InitiateMultipartUploadResult")) {
        id = child_text(root, "UploadId");
    }
    if (id.empty()) {
        throw StorageError("storage: no UploadId in the answer to a new "
                           "multipart upload");
    }
    return id;
}

std::string xml_root_name(std::string_view xml)
{
    Doc doc = read_xml(xml);
    const xmlNode* root = root_of(doc);
    return root ? reinterpret_cast<const char*>(root->name) : "";
}

std::string parse_error_code(std::string_view xml)
{
    Doc doc = read_xml(xml);
    const xmlNode* root = root_of(doc);
    if (root == nullptr || !named(root, "Error")) {
        return {};
    }
    std::string code = child_text(root, "Code");
    // A code is a word; anything else is not echoed.
    for (char c : code) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' &&
            c != '_' && c != '-') {
            return "(malformed code)";
        }
    }
    return code.substr(0, 100);
}

std::string complete_multipart_body(const std::vector<std::string>& etags)
{
    std::string body = "<CompleteMultipartUpload>";
    for (std::size_t i = 0; i < etags.size(); ++i) {
        body += "<Part><PartNumber>" + std::to_string(i + 1) +
                "</PartNumber><ETag>" + xml_escape(etags[i]) + "</ETag></Part>";
    }
    body += "</CompleteMultipartUpload>";
    return body;
}

} // namespace nixery
