#!/usr/bin/env python3
"""The Storage Write API double's own strictness (storage_double.py), seen by
a client written here with python3-grpcio: what the C transport never sends
must still be refused, or the C test would prove nothing.

  run-double.sh test_storage_double.py PROTOC_C

Starts the double with a fixed token (--token), the test CA of run-double.sh,
and stops it by its PID. Exit 0 pass, 1 fail, 77 skip (no grpc/protobuf).
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

try:
    import grpc
    from google.protobuf import descriptor_pb2
except ImportError:
    print("test_storage_double: skipped: needs python3-grpcio and python3-protobuf")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import storage_double  # noqa: E402  (the API's classes, from lib/bq/proto)

TOKEN = "ya29.fixed-test-token"
PARENT = "projects/p/datasets/d/tables/t"
M = "/google.cloud.bigquery.storage.v1.BigQueryWrite/"
failures = 0


def check(ok, what):
    global failures
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    failures += 0 if ok else 1


def code_of(fn):
    """The gRPC status code fn raised, or OK."""
    try:
        fn()
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def schema():
    """A row message 'r': a required string a (1), an optional int64 b (2)."""
    F = descriptor_pb2.FieldDescriptorProto
    d = descriptor_pb2.DescriptorProto(name="r")
    d.field.add(name="a", number=1, type=F.TYPE_STRING, label=F.LABEL_REQUIRED)
    d.field.add(name="b", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    return d


def main():
    d = os.environ["DV_BQ_TEST_DIR"]
    protoc_c = sys.argv[1]
    api = storage_double.load_api(os.path.join(os.environ["DV_BQ_TEST_SRC"], "lib", "bq", "proto"),
                                  protoc_c)
    pf, cf = os.path.join(d, "sd-port"), os.path.join(d, "sd-control")
    log = open(os.path.join(d, "sd.log"), "w")
    proc = subprocess.Popen([sys.executable, storage_double.__file__, "--cert", d + "/server.pem",
                             "--key", d + "/server.key", "--port-file", pf,
                             "--control-port-file", cf, "--token", TOKEN, "--protoc-c", protoc_c],
                            stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(pf) or proc.poll() is not None:
                break
            time.sleep(0.05)
        port = int(open(pf).read())
        with open(d + "/ca-a.pem", "rb") as f:
            ch = grpc.secure_channel("127.0.0.1:%d" % port, grpc.ssl_channel_credentials(f.read()))
        cases(api, ch)
        ch.close()
    finally:
        proc.terminate()
        proc.wait()
    print("test_storage_double: %d failed" % failures)
    return 1 if failures else 0


def control(path, body):
    port = int(open(os.path.join(os.environ["DV_BQ_TEST_DIR"], "sd-control")).read())
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def cases(api, ch):
    ser = lambda m: m.SerializeToString()
    create = ch.unary_unary(M + "CreateWriteStream", ser, api["WriteStream"].FromString)
    append = ch.stream_stream(M + "AppendRows", ser, api["AppendRowsResponse"].FromString)
    auth = ("authorization", "Bearer " + TOKEN)
    route = lambda k, v: ("x-goog-request-params", "%s=%s" % (k, v.replace("/", "%2F")))
    req = api["CreateWriteStreamRequest"](parent=PARENT)
    req.write_stream.type = 1

    check(code_of(lambda: create(req, metadata=[route("parent", PARENT)])) ==
          grpc.StatusCode.UNAUTHENTICATED, "no token: UNAUTHENTICATED")
    check(code_of(lambda: create(req, metadata=[("authorization", "Bearer ya29.other"),
                                                route("parent", PARENT)])) ==
          grpc.StatusCode.UNAUTHENTICATED, "a token not given to the double: UNAUTHENTICATED")
    check(code_of(lambda: create(req, metadata=[auth])) == grpc.StatusCode.INVALID_ARGUMENT,
          "no routing header: INVALID_ARGUMENT")
    check(code_of(lambda: create(req, metadata=[auth, ("x-goog-request-params",
                                                       "parent=" + PARENT)])) ==
          grpc.StatusCode.INVALID_ARGUMENT, "a routing header not URL-encoded: INVALID_ARGUMENT")
    bad = api["CreateWriteStreamRequest"](parent="projects/p/tables/t")
    bad.write_stream.type = 1
    check(code_of(lambda: create(bad, metadata=[auth, route("parent", bad.parent)])) ==
          grpc.StatusCode.INVALID_ARGUMENT, "a malformed parent: INVALID_ARGUMENT")
    pending = api["CreateWriteStreamRequest"](parent=PARENT)
    pending.write_stream.type = 2
    check(code_of(lambda: create(pending, metadata=[auth, route("parent", PARENT)])) ==
          grpc.StatusCode.INVALID_ARGUMENT, "a PENDING stream: INVALID_ARGUMENT")
    ws = create(req, metadata=[auth, route("parent", PARENT)])
    md = [auth, route("write_stream", ws.name)]

    desc, cls = storage_double.row_class(schema().SerializeToString())

    def request(rows, offset=None, first=True):
        r = api["AppendRowsRequest"]()
        if first:
            r.write_stream = ws.name
            r.proto_rows.writer_schema.proto_descriptor.ParseFromString(desc.SerializeToString())
        if offset is not None:
            r.offset.value = offset
        r.proto_rows.rows.serialized_rows.extend(rows)
        return r

    def answers(reqs, metadata=md):
        return list(append(iter(reqs), metadata=metadata))

    no_schema = request([cls(a="x").SerializeToString()])
    no_schema.proto_rows.ClearField("writer_schema")
    check(code_of(lambda: answers([no_schema])) == grpc.StatusCode.INVALID_ARGUMENT,
          "a first request without writer_schema: INVALID_ARGUMENT")
    check(code_of(lambda: answers([request([b"\x0a\x01x"])], [auth])) ==
          grpc.StatusCode.INVALID_ARGUMENT, "AppendRows without a routing header: INVALID_ARGUMENT")

    unknown = cls(a="y").SerializeToString() + b"\x18\x05"  # field 3, not in the schema
    rows = [cls(a="x", b=1).SerializeToString(), cls(b=2).SerializePartialToString(), unknown,
            b"\x0a\x05ab", cls(a="z").SerializeToString()]
    (r,) = answers([request(rows, 0)])
    got = sorted(e.index for e in r.row_errors)
    check(got == [1, 2, 3] and r.error.code == 3 and not r.HasField("append_result"),
          "rows missing a required field, with an unknown field, cut short: row_errors "
          "[1, 2, 3] (%s), INVALID_ARGUMENT, nothing stored" % got)
    good = [cls(a="x", b=1).SerializeToString(), cls(a="z").SerializeToString()]
    r1, r2, r3 = answers([request(good, 0), request(good[:1], first=False),
                          request(good[:1], 2, first=False)])
    check(r1.append_result.offset.value == 0 and r2.append_result.offset.value == 2 and
          r3.error.code == 6,
          "2 rows at 0, 1 without an offset (stored at 2), 1 at 2 again: ALREADY_EXISTS")
    other = request(good[:1], 3, first=False)
    other.write_stream = PARENT + "/streams/other"
    check(code_of(lambda: answers([request(good[:1], 3), other])) ==
          grpc.StatusCode.INVALID_ARGUMENT, "a second stream on one connection: INVALID_ARGUMENT")
    check(code_of(lambda: answers([request(good[:1], 3)],
                                  [auth, route("write_stream", PARENT + "/streams/other")])) ==
          grpc.StatusCode.INVALID_ARGUMENT,
          "a routing header naming another stream: INVALID_ARGUMENT")

    # A burst for a time, then a stream that vanishes at the next append.
    control("/fault", {"kind": "unavailable", "method": "CreateWriteStream", "seconds": 2})
    codes = [code_of(lambda: create(req, metadata=[auth, route("parent", PARENT)]))
             for _ in range(3)]
    time.sleep(2.1)
    check(codes == [grpc.StatusCode.UNAVAILABLE] * 3 and
          code_of(lambda: create(req, metadata=[auth, route("parent", PARENT)])) ==
          grpc.StatusCode.OK, "UNAVAILABLE for 2 s (3 calls), then OK")
    control("/fault", {"kind": "vanish"})
    check(code_of(lambda: answers([request(good[:1], 4)])) == grpc.StatusCode.NOT_FOUND,
          "a stream that vanished before the append: NOT_FOUND")


if __name__ == "__main__":
    sys.exit(main())
