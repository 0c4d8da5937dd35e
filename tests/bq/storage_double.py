#!/usr/bin/env python3
"""storage_double: a strict local stand-in for the BigQuery Storage Write API
(google.cloud.bigquery.storage.v1.BigQueryWrite) for dpdk-devourer's tests.

Strict on purpose, like bqdouble.py beside it: TLS only (the test CA that
run-double.sh makes), a bearer token on every call (a fixed one given here,
or one that the token double bqdouble.py issued, asked of its
/_double/tokens), the routing header (x-goog-request-params) naming the
same stream as the request, committed streams with offsets (ALREADY_EXISTS
for an offset stored before, OUT_OF_RANGE past the end), rows decoded with
the writer_schema's DescriptorProto (a row that does not parse, misses a
required field or carries unknown fields is a row error), row errors that
fail the whole request, the 10 MB request limit (INVALID_ARGUMENT).

Messages: protoc-c (the build's own compiler) turns lib/bq/proto into a
FileDescriptorSet; python3-protobuf builds the classes from it in a pool of
their own. The service is a generic handler of python3-grpcio: no generated
stubs. Clients connect to a small TCP relay in front of the gRPC server, so
a fault can reset a client's connection after its request was stored but
before its answer was sent (the grpc server has no such switch).

Control (plain HTTP on 127.0.0.1, the port in --control-port-file):
  GET  /stats             counters; rows_stored counts rows stored, rows_stored_twice
                          the stored rows whose content was stored before (any stream
                          of the same table), resent_mismatch ALREADY_EXISTS answers
                          whose rows differ from the stored ones at those offsets;
                          appends the AppendRowsRequests received, appended those
                          answered with an append_result (stored and answered),
                          request_bytes their serialized sizes summed
  GET  /streams           {name: {"next": N, "finalized": bool, "table": T}}
  GET  /rows?stream=S     the stored rows as JSON, one a line (a vanished stream's too:
                          a committed stream's rows stay in the table)
  POST /check?table=T     body: the rows devourer exported (NDJSON, as its file sink
                          wrote them); answers {"exported", "stored", "missing", "twice",
                          "extra"}: rows of table T (projects/P/datasets/D/tables/T, every
                          stream, vanished ones too) counted by their key (id:segment):
                          exported and never stored, stored more than once, stored and
                          not exported
  POST /fault             {"kind": K, "count": N, "seconds": S, "method": M (any)}: the
                          next N calls (1 by default), or every call for S seconds; K one of
                          unavailable, resource_exhausted, aborted, internal (the call
                          ends with that status, nothing stored), drop_after_store
                          (AppendRows: stored, then the connection is reset unanswered;
                          with "vanish": true the stream is gone from then on too),
                          vanish (AppendRows: the stream is gone before the request),
                          delay (AppendRows: each request waits "ms" milliseconds first),
                          schema_mismatch (AppendRows: the stream turns out to predate a
                          tables.patch: this and every later append on it is answered
                          INVALID_ARGUMENT with StorageError SCHEMA_MISMATCH_EXTRA_FIELDS,
                          nothing stored; a stream made after the fault works)
  POST /clear             no more faults (those for a time included)
  POST /reject            {"field": F, "value": V}: rows whose field F is V are row
                          errors (FIELDS_ERROR); {} clears
  POST /vanish            {"stream": S}: the stream is gone (NOT_FOUND from now on)
"""

import argparse
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
except ImportError as e:
    print("storage_double: needs python3-grpcio and python3-protobuf: %s" % e, file=sys.stderr)
    sys.exit(77)

SERVICE = "google.cloud.bigquery.storage.v1.BigQueryWrite"
PKG = "google.cloud.bigquery.storage.v1."
MAX_REQUEST = 10 * 1024 * 1024
PARENT_PARTS = ("projects", None, "datasets", None, "tables", None)
# google.rpc.Code and StorageError.StorageErrorCode values used here
ALREADY_EXISTS, OUT_OF_RANGE, INVALID_ARGUMENT = 6, 11, 3
SE_STREAM_NOT_FOUND, SE_STREAM_FINALIZED, SE_SCHEMA_MISMATCH_EXTRA_FIELDS = 3, 6, 7
SE_OFFSET_ALREADY_EXISTS, SE_OFFSET_OUT_OF_RANGE = 8, 9
FAULT_CODES = {"unavailable": grpc.StatusCode.UNAVAILABLE,
               "resource_exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
               "aborted": grpc.StatusCode.ABORTED, "internal": grpc.StatusCode.INTERNAL}


def message_class(pool, full_name):
    md = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(md)
    return message_factory.MessageFactory(pool).GetPrototype(md)


def load_api(proto_dir, protoc_c):
    """The API's message classes from lib/bq/proto, compiled by protoc-c."""
    files = sorted(f for f in os.listdir(proto_dir) if f.endswith(".proto"))
    with tempfile.NamedTemporaryFile(suffix=".pb") as out:
        subprocess.run([protoc_c, "--proto_path=" + proto_dir, "--include_imports",
                        "--descriptor_set_out=" + out.name] + [os.path.join(proto_dir, f)
                                                              for f in files], check=True)
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    names = ["AppendRowsRequest", "AppendRowsResponse", "WriteStream", "CreateWriteStreamRequest",
             "GetWriteStreamRequest", "FinalizeWriteStreamRequest", "FinalizeWriteStreamResponse",
             "StorageError", "RowError", "TableFieldSchema"]
    api = {n: message_class(pool, PKG + n) for n in names}
    api["Status"] = message_class(pool, "google.rpc.Status")
    return api


def row_class(descriptor_bytes):
    """A class for the writer_schema's row message, from its DescriptorProto alone."""
    desc = descriptor_pb2.DescriptorProto.FromString(descriptor_bytes)
    fdp = descriptor_pb2.FileDescriptorProto(name="writer_schema.proto", package="writer",
                                             syntax="proto2")
    fdp.message_type.add().CopyFrom(desc)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return desc, message_class(pool, "writer." + desc.name)


class Relay:
    """TCP relay from the public port to the gRPC server; can reset one client."""

    def __init__(self, port, target):
        self.target = target
        self.lock = threading.Lock()
        self.conns = {}  # the relay's port towards the server -> (client, server) sockets
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.sock.accept()
            try:
                s = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            key = s.getsockname()[1]
            with self.lock:
                self.conns[key] = (c, s)
            threading.Thread(target=self.pump, args=(c, s, key), daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, key), daemon=True).start()

    def pump(self, a, b, key):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            self.conns.pop(key, None)

    def reset(self, peer):
        """Resets (RST) the client connection whose server side is peer ('ipv4:h:port')."""
        key = int(peer.rsplit(":", 1)[1])
        with self.lock:
            pair = self.conns.pop(key, None)
        if not pair:
            return False
        c, s = pair
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for x in (c, s):
            try:
                x.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        c.close()
        s.close()
        return True


class State:
    def __init__(self, args, api):
        self.lock = threading.Lock()
        self.args = args
        self.api = api
        self.tokens = set(args.token or [])
        self.streams = {}   # name -> dict(table, rows [keys], decoded [dict], finalized, ...)
        self.seen = {}      # table -> {row key: times stored}
        self.vanished = set()
        self.gone = {}      # name -> the vanished stream (its rows stay in the table)
        self.faults = []
        self.reject = None  # (field, value)
        self.n = 0
        self.stats = {k: 0 for k in (
            "calls", "appends", "rows_stored", "rows_stored_twice", "already_exists",
            "out_of_range", "row_error_requests", "rows_rejected", "too_large", "not_found",
            "finalized_appends", "unauthenticated", "bad_routing", "dropped_after_store",
            "faults_fired", "resent_mismatch", "streams_created", "finalized", "appended",
            "request_bytes", "schema_mismatches")}

    def count(self, k, n=1):
        with self.lock:
            self.stats[k] += n

    def take_fault(self, kinds, method, whole=False):
        with self.lock:
            for f in self.faults:
                if f["kind"] not in kinds or f.get("method", method) != method:
                    continue
                if f["until"] is not None and time.time() > f["until"]:
                    continue
                if f["count"] is None or f["count"] > 0:
                    if f["count"] is not None:
                        f["count"] -= 1
                    self.stats["faults_fired"] += 1
                    return f if whole else f["kind"]
        return None

    def vanish(self, name):
        """The stream is gone (caller holds the lock); its rows stay in the table."""
        s = self.streams.pop(name, None)
        if s is not None:
            self.gone[name] = s
            self.vanished.add(name)
        return s is not None

    def check(self, table, exported):
        """Rows of table against the exported ones, by key (id:segment)."""
        want = {}
        for r in exported:
            k = "%s:%s" % (r["id"], r["segment"])
            want[k] = want.get(k, 0) + 1
        got = {}
        with self.lock:
            for s in list(self.streams.values()) + list(self.gone.values()):
                if s["table"] != table:
                    continue
                for m in s["decoded"]:
                    k = "%s:%s" % (m.get("id"), m.get("segment", 0))
                    got[k] = got.get(k, 0) + 1
        return {"exported": sum(want.values()), "stored": sum(got.values()),
                "missing": sum(1 for k in want if k not in got),
                "twice": sum(n - 1 for n in got.values() if n > 1),
                "extra": sum(1 for k in got if k not in want),
                "exported_twice": sum(n - 1 for n in want.values() if n > 1)}

    def token_ok(self, tok):
        if tok in self.tokens:
            return True
        if not self.args.token_url:
            return False
        # Ask the token double which tokens it issued (its list only grows).
        ctx = ssl.create_default_context(cafile=self.args.token_ca)
        try:
            with urllib.request.urlopen(self.args.token_url, context=ctx, timeout=5) as r:
                issued = json.load(r)["tokens"]
        except (OSError, ValueError, KeyError):
            return False
        with self.lock:
            self.tokens.update(issued)
        return tok in self.tokens


def rpc_status(api, code, message, storage_code=None, entity=""):
    st = api["Status"](code=code, message=message)
    if storage_code is not None:
        se = api["StorageError"](code=storage_code, entity=entity, error_message=message)
        d = st.details.add()
        d.type_url = "type.googleapis.com/" + PKG + "StorageError"
        d.value = se.SerializeToString()
    return st


class Service:
    def __init__(self, st, relay):
        self.st = st
        self.api = st.api
        self.relay = relay

    def abort(self, context, code, message, storage_code=None, entity=""):
        """Ends the call with code; a StorageError rides in grpc-status-details-bin."""
        if storage_code is not None:
            st = rpc_status(self.api, code.value[0], message, storage_code, entity)
            context.set_trailing_metadata([("grpc-status-details-bin", st.SerializeToString())])
        context.abort(code, message)

    def enter(self, context, method, param, value):
        """Auth, routing header and (but AppendRows's) injected faults of every call."""
        self.st.count("calls")
        md = dict(context.invocation_metadata())
        auth = md.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.st.token_ok(auth[7:]):
            self.st.count("unauthenticated")
            self.abort(context, grpc.StatusCode.UNAUTHENTICATED,
                       "Request had invalid authentication credentials. Expected OAuth 2 access "
                       "token, login cookie or other valid authentication credential.")
        want = "%s=%s" % (param, quote(value, safe=""))
        if value is not None and md.get("x-goog-request-params") != want:
            self.st.count("bad_routing")
            self.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                       "x-goog-request-params is %r, want %r" %
                       (md.get("x-goog-request-params"), want))
        if method != "AppendRows":
            self.fault(context, method)

    def fault(self, context, method):
        kind = self.st.take_fault(FAULT_CODES, method)
        if kind:
            self.abort(context, FAULT_CODES[kind], "injected %s" % kind)

    def stream_or_abort(self, context, name):
        with self.st.lock:
            s = self.st.streams.get(name)
        if s is None:
            self.st.count("not_found")
            self.abort(context, grpc.StatusCode.NOT_FOUND,
                       "Requested entity was not found. Entity: %s" % name,
                       SE_STREAM_NOT_FOUND, name)
        return s

    def write_stream(self, s, full):
        ws = self.api["WriteStream"](name=s["name"], type=1, write_mode=1, location="double")
        ws.create_time.seconds = int(s["created"])
        if full and s["schema"] is not None:
            for f in s["schema"].field:
                t = "STRING" if f.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING else "INT64"
                mode = "REQUIRED" if f.label == f.LABEL_REQUIRED else "NULLABLE"
                ws.table_schema.fields.add(name=f.name, type=t, mode=mode)
        return ws

    def CreateWriteStream(self, req, context):
        self.enter(context, "CreateWriteStream", "parent", req.parent)
        parts = req.parent.split("/")
        if len(parts) != 6 or any(p is not None and p != q for p, q in zip(PARENT_PARTS, parts)) \
                or not all(parts[1::2]):
            self.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                       "parent must be projects/P/datasets/D/tables/T: %r" % req.parent)
        if req.write_stream.type != 1:
            self.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                       "the double makes COMMITTED streams only, not type %d" %
                       req.write_stream.type)
        with self.st.lock:
            self.st.n += 1
            name = "%s/streams/double-%d" % (req.parent, self.st.n)
            s = {"name": name, "table": req.parent, "rows": [], "decoded": [], "finalized": False,
                 "created": time.time(), "schema": None}
            self.st.streams[name] = s
            self.st.stats["streams_created"] += 1
        return self.write_stream(s, False)

    def GetWriteStream(self, req, context):
        self.enter(context, "GetWriteStream", "name", req.name)
        return self.write_stream(self.stream_or_abort(context, req.name), req.view == 2)

    def FinalizeWriteStream(self, req, context):
        self.enter(context, "FinalizeWriteStream", "name", req.name)
        s = self.stream_or_abort(context, req.name)
        with self.st.lock:
            if not s["finalized"]:
                self.st.stats["finalized"] += 1
            s["finalized"] = True
            n = len(s["rows"])
        return self.api["FinalizeWriteStreamResponse"](row_count=n)

    def error_response(self, name, code, message, storage_code=None):
        r = self.api["AppendRowsResponse"](write_stream=name)
        r.error.CopyFrom(rpc_status(self.api, code, message, storage_code, name))
        return r

    def AppendRows(self, requests, context):
        first = True
        name = cls = None
        for size, raw in requests:
            req = self.api["AppendRowsRequest"].FromString(raw)
            if first:
                name = req.write_stream
                self.enter(context, "AppendRows", "write_stream", name)
                if not name or not req.proto_rows.HasField("writer_schema"):
                    self.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                               "the first request of a connection names the stream and "
                               "carries the writer_schema")
            elif req.write_stream and req.write_stream != name:
                self.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                           "one connection writes one stream: %s, not %s" % (name, req.write_stream))
            first = False
            self.st.count("appends")
            self.st.count("request_bytes", size)
            self.fault(context, "AppendRows")  # a burst ends the call, nothing stored
            if size > MAX_REQUEST:
                self.st.count("too_large")
                self.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                           "AppendRows request too large: %d limit %d" % (size, MAX_REQUEST))
            delay = self.st.take_fault({"delay"}, "AppendRows", whole=True)
            if delay:
                time.sleep(float(delay.get("ms", 100)) / 1000)
            if self.st.take_fault({"vanish"}, "AppendRows"):
                with self.st.lock:
                    self.st.vanish(name)
            s = self.stream_or_abort(context, name)
            if self.st.take_fault({"schema_mismatch"}, "AppendRows"):
                with self.st.lock:
                    s["stale_schema"] = True
            if s.get("stale_schema"):
                self.st.count("schema_mismatches")
                yield self.error_response(
                    name, INVALID_ARGUMENT, "Input schema has more fields than BigQuery "
                    "schema, extra fields: 'community_id'", SE_SCHEMA_MISMATCH_EXTRA_FIELDS)
                continue
            if req.proto_rows.HasField("writer_schema"):
                desc_bytes = req.proto_rows.writer_schema.proto_descriptor.SerializeToString()
                desc, cls = row_class(desc_bytes)
                with self.st.lock:
                    s["schema"] = desc
            resp = self.append(context, s, req, cls)
            if resp is None:
                return
            yield resp

    def decode(self, cls, rows):
        """Rows decoded, and the row errors (index, message) of the request."""
        out, errors = [], []
        for i, b in enumerate(rows):
            try:
                m = cls.FromString(b)
            except Exception as e:  # google.protobuf.message.DecodeError
                errors.append((i, "Could not parse the row: %s" % e))
                continue
            if not m.IsInitialized():
                errors.append((i, "Missing required fields: %s" % ", ".join(
                    m.FindInitializationErrors())))
                continue
            if len(m.UnknownFields()):
                errors.append((i, "The row has fields the writer_schema does not have"))
                continue
            rej = self.st.reject
            if rej and m.HasField(rej[0]) and str(getattr(m, rej[0])) == rej[1]:
                errors.append((i, "Field %s: value %s is rejected" % rej))
                continue
            out.append(m)
        return out, errors

    def append(self, context, s, req, cls):
        """One AppendRowsRequest against stream s; the answer, or None (connection reset)."""
        name = s["name"]
        if s["finalized"]:
            self.st.count("finalized_appends")
            return self.error_response(name, INVALID_ARGUMENT, "Stream is finalized: " + name,
                                       SE_STREAM_FINALIZED)
        rows = list(req.proto_rows.rows.serialized_rows)
        if not rows:
            return self.error_response(name, INVALID_ARGUMENT, "No rows in the request")
        decoded, errors = self.decode(cls, rows)
        keys = [m.SerializeToString(deterministic=True) for m in decoded]
        with self.st.lock:
            nxt = len(s["rows"])
            off = req.offset.value if req.HasField("offset") else nxt
            if errors:
                self.st.stats["row_error_requests"] += 1
                self.st.stats["rows_rejected"] += len(errors)
            elif off < nxt:
                self.st.stats["already_exists"] += 1
                if s["rows"][off:off + len(keys)] != keys:
                    self.st.stats["resent_mismatch"] += 1
            elif off > nxt:
                self.st.stats["out_of_range"] += 1
            else:
                seen = self.st.seen.setdefault(s["table"], {})
                for k, m in zip(keys, decoded):
                    if seen.get(k):
                        self.st.stats["rows_stored_twice"] += 1
                    seen[k] = seen.get(k, 0) + 1
                    s["decoded"].append(json_format.MessageToDict(
                        m, preserving_proto_field_name=True))
                s["rows"].extend(keys)
                self.st.stats["rows_stored"] += len(keys)
        if errors:
            r = self.error_response(name, INVALID_ARGUMENT,
                                    "Errors found while processing rows. Please refer to the "
                                    "row_errors field for details. The list may not be "
                                    "complete because of the size limitations.")
            for i, msg in errors:
                r.row_errors.add(index=i, code=1, message=msg)
            return r
        if off < nxt:
            return self.error_response(name, ALREADY_EXISTS, "Offset %d is already stored in "
                                       "%s (next %d)" % (off, name, nxt), SE_OFFSET_ALREADY_EXISTS)
        if off > nxt:
            return self.error_response(name, OUT_OF_RANGE, "Offset %d is beyond the end of %s "
                                       "(next %d)" % (off, name, nxt), SE_OFFSET_OUT_OF_RANGE)
        drop = self.st.take_fault({"drop_after_store"}, "AppendRows", whole=True)
        if drop:
            self.st.count("dropped_after_store")
            if drop.get("vanish"):  # and the stream is gone before it is sent again
                with self.st.lock:
                    self.st.vanish(name)
            self.relay.reset(context.peer())
            time.sleep(0.2)
            return None
        self.st.count("appended")
        r = self.api["AppendRowsResponse"](write_stream=name)
        r.append_result.offset.value = off
        return r


def handlers(svc, api):
    ser = lambda m: m.SerializeToString()
    raw = lambda b: (len(b), b)  # AppendRows keeps the size for the 10 MB check
    return grpc.method_handlers_generic_handler(SERVICE, {
        "CreateWriteStream": grpc.unary_unary_rpc_method_handler(
            svc.CreateWriteStream, api["CreateWriteStreamRequest"].FromString, ser),
        "GetWriteStream": grpc.unary_unary_rpc_method_handler(
            svc.GetWriteStream, api["GetWriteStreamRequest"].FromString, ser),
        "FinalizeWriteStream": grpc.unary_unary_rpc_method_handler(
            svc.FinalizeWriteStream, api["FinalizeWriteStreamRequest"].FromString, ser),
        "AppendRows": grpc.stream_stream_rpc_method_handler(svc.AppendRows, raw, ser),
    })


class Control(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        if self.server.st.args.verbose:
            sys.stderr.write("control: " + fmt % args + "\n")

    def send(self, code, obj=None, text=None):
        body = text.encode() if text is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.st
        u = urlsplit(self.path)
        with st.lock:
            if u.path == "/stats":
                return self.send(200, dict(st.stats, vanished=sorted(st.vanished)))
            if u.path == "/streams":
                return self.send(200, {n: {"next": len(s["rows"]), "finalized": s["finalized"],
                                           "table": s["table"]} for n, s in st.streams.items()})
            if u.path == "/rows":
                name = parse_qs(u.query).get("stream", [""])[0]
                s = st.streams.get(name, st.gone.get(name))
                if s is None:
                    return self.send(404, {"error": "no such stream"})
                return self.send(200, text="".join(json.dumps(r) + "\n" for r in s["decoded"]))
        self.send(404, {"error": "unknown path"})

    def do_POST(self):
        st = self.server.st
        n = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(n)
        u = urlsplit(self.path)
        path = u.path
        if path == "/check":
            try:
                rows = [json.loads(l) for l in raw.decode().splitlines() if l.strip()]
            except ValueError:
                return self.send(400, {"error": "bad NDJSON"})
            return self.send(200, st.check(parse_qs(u.query).get("table", [""])[0], rows))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send(400, {"error": "bad JSON"})
        with st.lock:
            if path == "/fault":
                if body.get("kind") not in set(FAULT_CODES) | {"drop_after_store", "vanish",
                                                                "delay", "schema_mismatch"}:
                    return self.send(400, {"error": "unknown fault kind"})
                # For `count` calls (1 by default), or all calls for `seconds`.
                until = time.time() + float(body["seconds"]) if "seconds" in body else None
                count = int(body["count"]) if "count" in body else None if until else 1
                st.faults.append(dict(body, count=count, until=until))
                return self.send(200, {"ok": True})
            if path == "/clear":
                st.faults = []
                return self.send(200, {"ok": True})
            if path == "/reject":
                st.reject = (body["field"], str(body["value"])) if body else None
                return self.send(200, {"ok": True})
            if path == "/vanish":
                found = st.vanish(body.get("stream", ""))
                return self.send(200 if found else 404, {"ok": found})
        self.send(404, {"error": "unknown path"})


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="the service's port (0: pick one)")
    ap.add_argument("--port-file", help="write the service's port here once listening")
    ap.add_argument("--control-port-file", help="write the control port here")
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="server private key (PEM)")
    ap.add_argument("--token", action="append", help="a bearer token to accept (repeatable)")
    ap.add_argument("--token-url", help="the token double's /_double/tokens (HTTPS)")
    ap.add_argument("--token-ca", help="CA file for --token-url")
    ap.add_argument("--proto-dir", default=os.path.join(here, "..", "..", "lib", "bq", "proto"))
    ap.add_argument("--protoc-c", default="protoc-c")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not args.token and not args.token_url:
        ap.error("give --token or --token-url: the double never takes calls without a token")

    st = State(args, load_api(args.proto_dir, args.protoc_c))
    with open(args.cert, "rb") as f:
        cert = f.read()
    with open(args.key, "rb") as f:
        key = f.read()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    inner = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    relay = Relay(args.port, inner)
    server.add_generic_rpc_handlers((handlers(Service(st, relay), st.api),))
    server.start()
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    ctl.st = st
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    if args.control_port_file:
        write_port(args.control_port_file, ctl.server_address[1])
    if args.port_file:
        write_port(args.port_file, relay.port)
    print("storage_double: port %d control %d" % (relay.port, ctl.server_address[1]),
          file=sys.stderr)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
