#!/usr/bin/env python3
"""Writes the starting inputs of each fuzz target (docs/testing.md) into
fuzz/corpus/<target>/, named by their SHA-1 as libFuzzer names its own.

They come from the project's test tables: the routes of t/010-routes.t and
the hostile requests of t/040-hostile.t, the Accept lines clients send
(t/010), and the records of the unit tests (index and layer cache entries,
jobs, results, closures, Nix messages). `fuzz/run.sh merge` then keeps only
the inputs that add coverage; run this again after adding a row to a table.
"""
import hashlib
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
HEX = "a" * 64
HEX2 = "0123456789abcdef" * 4
KEY = "5" * 64


def put(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


# t/010-routes.t and t/040-hostile.t: request targets as the module sees
# them (no query string; what nginx itself refuses never reaches it).
ROUTES = [
    "/v2/", "/v2", "/v2/hello/manifests/latest", "/v2/shell/git/manifests/latest",
    "/v2/arm64/shell/htop/manifests/v1.0", f"/v2/hello/manifests/sha256:{HEX}",
    f"/v2/hello/blobs/sha256:{HEX2}", "/v2/hello/tags/list", "/v2/_catalog",
    "/v2/" + "b" * 1025 + "/manifests/latest",
    "/v2/hello/manifests/" + "t" * 129, "/v2/../v2/hello/manifests/latest",
    "/v2/hello/../hello/manifests/latest", "/v2/%2e%2e/manifests/latest",
    "/v2/hello/manifests/..", "/v2/hello%2fworld/manifests/latest",
    "/v2/hello/blobs/sha256:..%2f..%2fsecret.txt",
    "/v2/hello/blobs/sha256:../../secret.txt", "/v2/hello//world/manifests/latest",
    "//v2/hello/manifests/latest", "/v2/./hello/manifests/latest",
    "/v2/hello\\..\\secret/manifests/latest", "/v2/hello/manifests/lat%01est",
    "/v2/caf\xc3\xa9/manifests/latest", "/v2/HELLO/manifests/latest",
    "/v2/hello/MANIFESTS/latest", f"/v2/hello/blobs/SHA256:{HEX}",
    "/v2/hello/manifests/md5:d41d8cd98f00b204e9800998ecf8427e",
    "/v2/hello/manifests/sha512:" + "a" * 128, "/v2/hello/blobs/latest",
    "/v2/hello/blobs/sha256:", f"/v2/hello/blobs/sha256::{HEX}",
    "/v2/a/blobs/b/manifests/latest", "/v2/a__b.c-d/e---f/manifests/_x",
    "/v2/" + "/".join(chr(97 + i // 26) + chr(97 + i % 26) for i in range(300))
    + "/manifests/latest",
]
for r in ROUTES:
    put("route", r)

# Image names and tags (t/010, t/040, image_request_test).
for name, tag in [
    ("hello", "latest"), ("shell/git/htop", "latest"), ("arm64/shell/git", "v1"),
    ("shell/arm64/1password", "latest"), ("python3packages.requests", "x"),
    ("git/git/htop", "latest"), ("htop/git", "_t"), ("a/shell/b", "latest"),
    ("bashinteractive/perlpackages.json", "latest"), ("b" * 1024, "latest"),
    ("/".join(chr(97 + i // 26) + chr(97 + i % 26) for i in range(300)), "x"),
    ("hello", "t" * 128), ("hello", "-bad"), ("Hello", "latest"),
]:
    put("image_request", f"{name}\n{tag}")

# Accept lines (t/010: skopeo's, containerd's, q=0, t/040's junk).
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"
for lines in [
    [OCI, DOCKER, "application/vnd.docker.distribution.manifest.v1+prettyjws",
     "application/vnd.docker.distribution.manifest.list.v2+json",
     "application/vnd.oci.image.index.v1+json"],
    [", ".join([DOCKER, OCI, "*/*"])], [OCI], [f"{DOCKER};q=0, {OCI}"],
    [",,,;;;q=,*/*;q=abc"], ["application/*"], [f"{OCI.upper()};q=0.5"],
    ["text/plain"] * 3, [", ".join(["application/x-junk"] * 20)], [],
]:
    put("accept", "\n".join(lines))

for d in [f"sha256:{HEX}", f"sha256:{HEX.upper()}", "sha256:", f"sha512:{HEX}{HEX}",
          "md5:d41d8cd98f00b204e9800998ecf8427e", f":{HEX}", f"sha256::{HEX}",
          f"sha256:{HEX}0", "latest", HEX2]:
    put("digest", d)

for text in [
    f"nixery-index-v1\ndocker sha256:{HEX} 123\noci sha256:{HEX2} 456\nexpires 0\n",
    f"nixery-index-v1\ndocker sha256:{HEX} 9999999999999999999\n"
    f"oci sha256:{HEX2} 1\nexpires 9223372036854775807\n",
    f"nixery-index-v1\ndocker sha256:{HEX} 1\noci sha256:{HEX2} 2\nexpires -1\n",
    "nixery-index-v1\n",
]:
    put("index_entry", text)

for text in [
    json.dumps({"version": 1, "digest": f"sha256:{HEX}", "diff_id": f"sha256:{HEX2}",
                "size": 12345, "paths": 7}, separators=(",", ":")) + "\n",
    '{"version":1,"digest":"sha256:x","size":0}', '{"version":1',
]:
    put("layer_cache", text)

for job in [
    {"v": 1, "key": KEY, "name": "shell/git", "tag": "latest", "enqueued_ms": 1700000000000},
    {"v": 1, "key": KEY, "name": "caf\u00e9\u0000", "tag": "x", "enqueued_ms": -1},
    {"v": 2, "key": KEY, "name": "a", "tag": "b", "enqueued_ms": 0},
]:
    put("queue_job", json.dumps(job, separators=(",", ":")))

RESULTS = [
    {"v": 1, "key": KEY, "ok": True},
    {"v": 1, "key": KEY, "ok": False, "code": "MANIFEST_UNKNOWN",
     "message": "unknown packages", "detail": "nosuch", "unknown": ["nosuch", "x\u0000y"]},
    {"v": 1, "key": KEY, "ok": False, "code": "UNKNOWN", "message": "build failed",
     "detail": "error: builder failed\n> make: *** [all] Error 2", "unknown": []},
]
for r in RESULTS:
    put("queue_result", json.dumps(r, separators=(",", ":")))

# The helpers' list of tags (tag_list_test), a NUL, a tags/list query.
for record, args in [
    ({"v": 1, "helper": "h-1", "listed_ms": 1764075600123,
      "tags": ["feature", "main", "v1.0"]}, "n=2&last=feature"),
    ({"v": 1, "tags": ["b", "a", "b", 7, None, "x/y", "", "../x",
                       "0123456789abcdef0123456789abcdef01234567"]}, "n=0"),
    ({"v": 2, "tags": []}, "last=v1%2E0&n=99999999999999999999999"),
    ({"v": 1, "tags": ["Zeta", "alpha", "_x", "9"]}, "n=-1"),
    ({"v": 1, "tags": ["latest"]}, "last=a/b"),
]:
    put("tags_record", json.dumps(record, separators=(",", ":")) + "\0" + args)


def bulk(s):
    b = s.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


# RESP as Redis sends it to the module (docs/redis.md): the subscription,
# announcements, the enqueue script's three answers, errors, odd shapes.
res = json.dumps(RESULTS[1], separators=(",", ":"))
for piece, stream in [
    (0, b"*3\r\n" + bulk("subscribe") + bulk("nixery:done") + b":1\r\n"),
    (3, b"*3\r\n" + bulk("message") + bulk("nixery:done") + bulk(res)),
    (0, b"*2\r\n" + bulk("result") + bulk(json.dumps(RESULTS[0]))),
    (5, b"*2\r\n" + bulk("queued") + bulk("1700000000000-0")
        + b"*2\r\n" + bulk("waiting") + bulk("1-0")),
    (1, b"-NOSCRIPT No matching script\r\n+PONG\r\n:12\r\n$-1\r\n*-1\r\n"),
    (0, b"*2\r\n*1\r\n$1\r\nx\r\n$3\r\nabc\r\n"),
    (7, b"%1\r\n+a\r\n+b\r\n~2\r\n:1\r\n,1.5\r\n#t\r\n_\r\n"),
    (0, b"$5\r\nabc\r\n"), (2, b"*9999999999999999999\r\n"),
]:
    put("resp", bytes([piece]) + stream)

for text in [
    '[{"path":"/nix/store/b-hello","narSize":20,"narHash":"x",'
    '"references":["/nix/store/a-glibc","b-hello"]},'
    '{"path":"/nix/store/a-glibc","narSize":10,"references":[]}]',
    '{"paths":{"/nix/store/b-hello":{"narSize":2,"references":["a-glibc"]},'
    '"/nix/store/a-glibc":{"narSize":1}},"roots":["/nix/store/b-hello"],'
    '"attributes":["hello"]}',
    '{"/nix/store/x-a":{"narSize":200000000,"references":["/nix/store/y-b"]},'
    '"/nix/store/y-b":{"narSize":1,"references":["/nix/store/x-a"]}}',
    '[{"path":"/nix/store/z","valid":false}]', '[]',
]:
    for budget in (0, 3):
        put("path_info", bytes([budget]) + text.encode())

for text in ['{"glibc-2.39-52":120,"bash":4,"nss-cacert-3.9":1,"hello-2.12":0}',
             '{"a":-1}', '[1]', '{}']:
    put("popularity", text)

ESC = "\x1b"
for text in [
    f"{ESC}[31;1merror:{ESC}[0m builder for '/nix/store/x.drv' failed with exit code 3",
    "error: boom\n(use '--show-trace' to show detailed location information)",
    "building '/nix/store/x.drv'...\nmake: *** [all] Error 2\nthese 2 paths\n"
    "error: builder for '/nix/store/x.drv' failed",
    "warning: unknown setting\nsomething else\n", "error: " + "x" * 2000,
]:
    put("nix_stderr", bytes([64, 3]) + text.encode())

for doc in [
    [{"name": "hello", "status": "found", "attrPath": "hello",
      "outputPath": "/nix/store/x-hello", "drvPath": "/nix/store/y.drv",
      "outputName": "out"}],
    [{"name": "nosuch", "status": "not_found", "attrPath": "nosuch"}],
    [{"name": "x", "status": "failed", "attrPath": "x", "reason": "ambiguous",
      "message": "two", "candidates": ["X", "x"]}],
    [{"name": "x", "status": "odd", "attrPath": "x"}],
]:
    put("resolution", json.dumps(doc))

# Tar entries: type byte (0 dir, 1 symlink, 2 file), name, '\n', data.
for entries in [
    [b"\x00bin", b"\x01sh\nbash", b"\x02hello\n#!/bin/sh\n"],
    [b"\x02" + b"n" * 200 + b"\nlong name", b"\x01l\n" + b"t" * 300],
    [b"\x02caf\xc3\xa9\nutf-8", b"\x02\xff\xfe\nnot utf-8", b"\x01x\n../../etc"],
    [b"\x00d", b"\x00e", b"\x02f\n", b"\x02sp ace\n"],
]:
    put("tar_names", b"\x00".join(entries))

for text in [
    '<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/'
    '2006-03-01/"><IsTruncated>true</IsTruncated><NextContinuationToken>t'
    '</NextContinuationToken><Contents><Key>blobs/sha256/aa/x</Key><Size>12'
    '</Size><LastModified>2024-05-06T07:08:09.123Z</LastModified></Contents>'
    '</ListBucketResult>',
    '<InitiateMultipartUploadResult><UploadId>abc</UploadId>'
    '</InitiateMultipartUploadResult>',
    '<Error><Code>NoSuchKey</Code><StringToSign>x</StringToSign></Error>',
    "2024-05-06T07:08:09.123Z", "<a><b>", "",
]:
    put("bucket_xml", text)

# RESP as Redis sends it to the helper for the jobs stream: XREADGROUP's
# entry, a timeout, XAUTOCLAIM's Redis 6.2 and 7 answers, odd shapes.
entry = (b"*2\r\n" + bulk("1-0") + b"*2\r\n" + bulk("job")
         + bulk(json.dumps({"v": 1, "key": KEY, "name": "shell/git",
                            "tag": "latest", "enqueued_ms": 1},
                           separators=(",", ":"))))
for stream in [
    b"*1\r\n*2\r\n" + bulk("nixery:jobs") + b"*1\r\n" + entry,
    b"*-1\r\n",
    b"*2\r\n" + bulk("0-0") + b"*1\r\n" + entry,
    b"*3\r\n" + bulk("5-0") + b"*1\r\n" + entry + b"*1\r\n" + bulk("2-0"),
    b"*1\r\n*2\r\n" + bulk("nixery:jobs") + b"*1\r\n*2\r\n"
    + bulk("3-0") + b"*-1\r\n",
    b"*1\r\n*1\r\n" + bulk("nixery:jobs") + b"*2\r\n:1\r\n*0\r\n",
]:
    put("stream_reply", stream)

# Layers: a mode byte (0 as is, 1 repeated to 1.5 blocks, 2 pseudo-random
# with the bytes spliced in), then the bytes.
for mode, text in [
    (0, b""), (0, b"#!/bin/sh\nexec hello\n" * 20),
    (1, b"\x7fELF\x02\x01\x01" + bytes(range(256))), (2, b"seed"),
    (2, b"x" * 300),
]:
    put("gzip", bytes([mode]) + text)

print("seeds written under", ROOT, file=sys.stderr)
