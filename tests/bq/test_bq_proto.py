#!/usr/bin/env python3
"""Protobuf rows (lib/bq/dv_bq_proto.c) against JSON rows (lib/dv_row.c).

  test_bq_proto.py BQ_PROTO_ROWS SCHEMA_JSON [ROWS]
  test_bq_proto.py --rows-file FILE SCHEMA_JSON

With --rows-file the lines come from FILE (bq_proto_rows --json over the
rows the program wrote from captures: test_bq_proto_captures.sh) instead of
from running the driver.

BQ_PROTO_ROWS (tests/bq/bq_proto_rows.c) prints the DescriptorProto the
library emits, then for each of many records the protobuf row and the JSON
row of that record. Here, with python3-protobuf (Google's implementation, not
ours):
  1. the descriptor is parsed as a google.protobuf.DescriptorProto and must
     be the table schema (SCHEMA_JSON, the installed flow_logs.schema.json
     made from dv_columns.def by dv_bq_table.c): field i+1 is column i, a
     string for STRING, an int64 for INTEGER and TIMESTAMP, proto2 required
     for REQUIRED and optional for NULLABLE;
  2. a message class is built from that descriptor alone, and every protobuf
     row is parsed with it: no unknown fields, every required field set, and
     field by field equal to the JSON row: a null column is a field not set,
     a string the same text, an integer the same number, a timestamp the
     microseconds since the epoch of the JSON text (read by datetime);
  3. the bytes per row of both, for bench_bq's typical row and on average.
Exit 0 pass, 1 fail, 77 skip (no google.protobuf).
"""

import json
import subprocess
import sys
from datetime import datetime, timezone

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    print("test_bq_proto: skipped: python3-protobuf is not installed")
    sys.exit(77)

FDP = descriptor_pb2.FieldDescriptorProto
TYPES = {"STRING": FDP.TYPE_STRING, "INTEGER": FDP.TYPE_INT64, "TIMESTAMP": FDP.TYPE_INT64}
LABELS = {"REQUIRED": FDP.LABEL_REQUIRED, "NULLABLE": FDP.LABEL_OPTIONAL}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_descriptor(desc, schema):
    """The descriptor is the table schema, column by column."""
    if len(desc.field) != len(schema):
        fail("descriptor has %d fields, the schema %d columns" % (len(desc.field), len(schema)))
    for i, (f, col) in enumerate(zip(desc.field, schema)):
        want = (col["name"], i + 1, TYPES[col["type"]], LABELS[col["mode"]])
        got = (f.name, f.number, f.type, f.label)
        if got != want:
            fail("field %d is %s, the schema wants %s" % (i, got, want))
    print("ok   descriptor %r: %d fields as the %d columns of the schema" %
          (desc.name, len(desc.field), len(schema)))


def message_class(desc):
    """A message class made from the emitted DescriptorProto alone."""
    fdp = descriptor_pb2.FileDescriptorProto(name="dv_row_test.proto", package="dvtest",
                                             syntax="proto2")
    fdp.message_type.add().CopyFrom(desc)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    md = pool.FindMessageTypeByName("dvtest." + desc.name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(md)
    return message_factory.MessageFactory(pool).GetPrototype(md)


def micros(text):
    """'2026-01-01T00:00:00.123456Z' -> microseconds since the epoch."""
    t = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    d = t - EPOCH
    return (d.days * 86400 + d.seconds) * 1000000 + d.microseconds


def check_row(cls, schema, raw, text, n):
    row = json.loads(text)
    if list(row) != [c["name"] for c in schema]:
        fail("row %d: JSON columns %s are not the schema's" % (n, list(row)))
    msg = cls()
    msg.MergeFromString(raw)
    msg.DiscardUnknownFields()
    if msg.ByteSize() != len(raw):
        fail("row %d: %d bytes parse to a message of %d (unknown or repeated fields)" %
             (n, len(raw), msg.ByteSize()))
    if row["sensor"] is not None and not msg.IsInitialized():
        fail("row %d: required fields missing: %s" % (n, msg.FindInitializationErrors()))
    for col in schema:
        name, want = col["name"], row[col["name"]]
        if want is None:
            if msg.HasField(name):
                fail("row %d: %s is null in JSON, %r in protobuf" % (n, name, getattr(msg, name)))
            continue
        if not msg.HasField(name):
            fail("row %d: %s is %r in JSON, not set in protobuf" % (n, name, want))
        if col["type"] == "TIMESTAMP":
            want = micros(want)
        if getattr(msg, name) != want:
            fail("row %d: %s is %r in JSON, %r in protobuf" % (n, name, want, getattr(msg, name)))


def main():
    if sys.argv[1] == "--rows-file":
        schema_file = sys.argv[3]
        with open(sys.argv[2], encoding="utf-8") as f:
            out = f.read()
    else:
        driver, schema_file = sys.argv[1], sys.argv[2]
        rows = sys.argv[3] if len(sys.argv) > 3 else "2000"
        out = subprocess.run([driver, rows], check=True, capture_output=True).stdout.decode()
    with open(schema_file) as f:
        schema = json.load(f)
    schema = schema["fields"] if isinstance(schema, dict) else schema
    lines = out.splitlines()
    desc = descriptor_pb2.DescriptorProto.FromString(bytes.fromhex(lines[0].split()[1]))
    check_descriptor(desc, schema)
    cls = message_class(desc)
    pb_bytes = json_bytes = n = 0
    for line in lines[1:]:
        kind, rest = line.split(" ", 1)
        if kind == "typical":
            pb, js = rest.split()
            print("typical row (bench_bq's): protobuf %s bytes, JSON %s bytes" % (pb, js))
            continue
        raw, text = rest.split(" ", 1)
        check_row(cls, schema, bytes.fromhex(raw), text, n)
        pb_bytes += len(raw) // 2
        json_bytes += len(text.encode())
        n += 1
    print("ok   %d rows: every field equal to the JSON row's" % n)
    print("mean bytes per row: protobuf %.1f, JSON %.1f" % (pb_bytes / n, json_bytes / n))


if __name__ == "__main__":
    main()
