#!/usr/bin/env python3
"""bqdouble: a strict local stand-in for Google BigQuery, its OAuth token
endpoint and the GCE metadata server, for dpdk-devourer's tests.

It is strict on purpose: it checks what the real service checks (JWT
signature and claims, the bearer token, schema types per column, request
limits, insertId dedup) and answers in Google's shapes (the error envelope
{"error":{"code","message","errors":[{"reason",...}],"status"}}, per-row
insertErrors with "invalid" for bad rows and "stopped" for the others of the
same request). Faults are injected through a control endpoint so one double
can serve a whole test program.

Python stdlib plus python3-cryptography only. HTTPS with a certificate the
test script makes; a plain HTTP listener for the metadata server is optional.

Control endpoints (no auth, same listener):
  GET  /_double/health            -> {"ok":true}
  POST /_double/reset             forget tables, rows, faults, stats (not tokens)
  POST /_double/fault             add a fault (JSON, see Fault below)
  GET  /_double/rows?table=T      NDJSON: {"insertId":..., "json":{...}} per stored row
  GET  /_double/stats             counters (requests by kind and status, rows; rows_repeated
                                  counts every accepted row whose insertId came before,
                                  whether the dedup window hid it (rows_deduped) or not)
  GET  /_double/repeats?table=T   {"repeats": {insertId: times received again}, "rows": N,
                                   "at_risk": N, "unexplained": [insertId...]}: a repeat is
                                  explained only when the first copy's answer may never
                                  have reached the client (its request was in progress
                                  when a `down` fault cut connections, or answered less
                                  than a second before on a connection it cut, or its
                                  answer could not be written, or `slow`); any other
                                  repeat is a row the client sent twice
  GET  /_double/tokens            access tokens issued (tests grep logs for them)
  GET  /_double/table?table=T     the stored table resource
  POST /_double/table?table=T     install a table resource as it is (an "old" table)
  POST /_double/config            {"token_ttl":N, "fast":bool, "dedup_window":S}; a test
                                  that asserts "stored once" sets dedup_window 0, so a
                                  repeat is stored (and seen) instead of hidden
  POST /_double/revoke            forget issued tokens (the next request gets 401)
"""

import argparse
import base64
import json
import os
import random
import re
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

MAX_BODY = 10 * 1024 * 1024  # insertAll request size limit
MAX_ROWS = 50000             # insertAll rows per request limit
SCOPE = "https://www.googleapis.com/auth/bigquery"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
LEGACY_TYPES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
VALID_TYPES = {"STRING", "BYTES", "INTEGER", "FLOAT", "NUMERIC", "BIGNUMERIC", "BOOLEAN",
               "TIMESTAMP", "DATE", "TIME", "DATETIME", "GEOGRAPHY", "RECORD", "JSON"}
TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def envelope(code, message, reason):
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": reason}],
                      "status": STATUS_NAMES.get(code, "UNKNOWN")}}


class Fault:
    """One injected fault. kind:
      status  - insertAll answers HTTP `code` with `reason` (503, 429, 403 rateLimitExceeded...)
      row     - per-row insertErrors `reason` (timeout, stopped, backendError, invalid) on
                rows whose index % `every` == 0; the other rows of the request are stored
      slow    - insertAll answers after `delay` seconds
      reset   - insertAll connection is reset (RST) without an answer
      token   - token endpoint answers HTTP `code`
      down    - every listener refuses connections for `seconds`
      outage  - every BigQuery, token and metadata request (not /_double/) answers HTTP
                `code` (503 by default) with Google's error envelope: the whole service
                unavailable, start-up requests included
    It applies to the next `count` matching requests, or (with `seconds`) until
    that much time has passed; whichever is given."""

    def __init__(self, d):
        self.kind = d["kind"]
        self.code = int(d.get("code", 503))
        self.reason = d.get("reason")
        self.every = max(1, int(d.get("every", 1)))
        self.delay = float(d.get("delay", 0))
        self.count = d.get("count")
        self.until = time.time() + float(d["seconds"]) if "seconds" in d else None
        if self.count is None and self.until is None:
            self.count = 1

    def take(self):
        """True if this fault fires now (consumes one count)."""
        if self.until is not None and time.time() > self.until:
            return False
        if self.count is not None:
            if self.count <= 0:
                return False
            self.count -= 1
        return True

    def alive(self):
        if self.until is not None and time.time() > self.until:
            return False
        return self.count is None or self.count > 0


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.pubkey = None
        self.kid = None
        self.email = None
        if args.sa_key:
            with open(args.sa_key) as f:
                key = json.load(f)
            priv = serialization.load_pem_private_key(key["private_key"].encode(), None)
            self.pubkey = priv.public_key()
            self.kid = key["private_key_id"]
            self.email = key["client_email"]
        self.datasets = set(args.dataset or [])
        self.tokens = {}  # token -> expiry; kept over reset so tests can grep logs for all
        self.reset()

    def reset(self):
        with self.lock:
            self.tables = {}    # "p:d.t" -> table resource
            self.rows = {}      # "p:d.t" -> list of (insertId, row dict)
            self.seen = {}      # "p:d.t" -> {insertId: time}
            self.repeats = {}   # "p:d.t" -> {insertId: times received again}
            # insertIds whose answer the client may never have read (a request
            # in progress when go_down cut the connections, or a slowed one):
            # the only rows a correct client may send again after acceptance.
            self.at_risk = {}   # "p:d.t" -> set of insertIds
            self.inflight = {}  # handler -> ("p:d.t", insertIds) between store and answer
            # handler -> (time, "p:d.t", insertIds) of the last answer it wrote: a
            # connection cut right after may lose it before the client reads it
            self.answered = {}
            self.faults = []
            self.stats = {"requests": {}, "rows_stored": 0, "rows_deduped": 0, "rows_repeated": 0,
                          "rows_invalid": 0, "bytes_in": 0, "insert_requests": 0}

    def count(self, kind, status):
        with self.lock:
            k = "%s %d" % (kind, status)
            self.stats["requests"][k] = self.stats["requests"].get(k, 0) + 1

    def fault(self, kinds):
        with self.lock:
            self.faults = [f for f in self.faults if f.alive()]
            for f in self.faults:
                if f.kind in kinds and f.take():
                    return f
        return None


def check_value(field, v):
    """None if v fits the column, else the error message (BigQuery's wording)."""
    name, typ = field["name"], LEGACY_TYPES.get(field["type"], field["type"])
    mode = field.get("mode", "NULLABLE")
    if v is None:
        if mode == "REQUIRED":
            return "Missing required field: %s." % name
        return None
    if typ == "INTEGER":
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            return "Cannot convert value to integer (bad value): %r" % (v,)
        try:
            n = int(v)
        except ValueError:
            return "Cannot convert value to integer (bad value): %s" % v
        if not -2**63 <= n < 2**63:
            return "Cannot convert value to integer (out of range): %s" % v
    elif typ == "STRING":
        if not isinstance(v, str):
            return "Cannot convert value to string."
    elif typ == "TIMESTAMP":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return None
        if not isinstance(v, str) or not TS_RE.match(v):
            return "Cannot convert value to timestamp: %s" % (v,)
    return None


def partition_error(field, v):
    """BigQuery streaming only takes partition values 5 years back to 1 year ahead."""
    m = TS_RE.match(v) if isinstance(v, str) else None
    if not m:
        return None
    try:
        day = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=timezone.utc)
    except ValueError:
        return "Cannot convert value to timestamp: %s" % v
    age = (datetime.now(timezone.utc) - day).days
    if age > 1825 or age < -366:
        return ("Value %s for field %s of the destination table is outside the allowed bounds. "
                "You can only stream to date range within 1825 days in the past and 366 days "
                "in the future relative to the current date." % (v, field))
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bqdouble/1"

    def setup(self):
        # TLS handshake in the connection's own thread so a slow client never
        # blocks the accept loop.
        if self.server.tls_ctx is not None:
            self.request.settimeout(10)
            self.request = self.server.tls_ctx.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        self.connection = self.request
        st = self.server.st
        with st.lock:
            st.stats["connections"] = st.stats.get("connections", 0) + 1
            self.server.conns.add(self.request)
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.st.args.verbose:
            sys.stderr.write("bqdouble: " + (fmt % args) + "\n")

    # --- plumbing ---------------------------------------------------------

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, code, obj=None, raw=None, ctype="application/json; charset=UTF-8"):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, message, reason):
        self.send(code, envelope(code, message, reason))

    def reset_connection(self):
        # SO_LINGER 0 makes close() send a RST: the client sees a reset, not EOF.
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.request.close()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass  # the connection was reset on purpose
        with self.server.st.lock:
            self.server.conns.discard(self.request)
            self.server.st.answered.pop(id(self), None)

    def authorized(self):
        st = self.server.st
        if st.args.no_auth:
            return True
        h = self.headers.get("Authorization", "")
        tok = h[7:] if h.startswith("Bearer ") else None
        with st.lock:
            exp = st.tokens.get(tok)
        if exp is None or exp < time.time():
            st.count("auth", 401)
            self.error(401, "Request had invalid authentication credentials. Expected OAuth 2 "
                       "access token, login cookie or other valid authentication credential.",
                       "authError")
            return False
        return True

    # --- routing ----------------------------------------------------------

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def route(self, method):
        st = self.server.st
        u = urlsplit(self.path)
        path, query = u.path, parse_qs(u.query)
        body = self.body()
        if self.server.plain and not path.startswith("/computeMetadata/"):
            return self.error(404, "Not found", "notFound")
        if path.startswith("/_double/"):
            return self.control(method, path, query, body)
        f = st.fault({"outage"})
        if f:
            st.count("outage", f.code)
            return self.error(f.code, "Injected outage: the service is unavailable",
                              "backendError")
        if path == "/token" and method == "POST":
            return self.token(body)
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            return self.metadata()
        m = re.match(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)(?:/tables(?:/([^/]+)(/insertAll)?)?)?$", path)
        if not m:
            return self.error(404, "Not found: URL %s" % path, "notFound")
        project, dataset, table, ins = (unquote(m.group(1)), unquote(m.group(2)),
                                        m.group(3) and unquote(m.group(3)), m.group(4))
        if not self.authorized():
            return
        if "%s:%s" % (project, dataset) not in st.datasets:
            st.count("dataset", 404)
            return self.error(404, "Not found: Dataset %s:%s" % (project, dataset), "notFound")
        full = "%s:%s.%s" % (project, dataset, table)
        if table is None and "/tables" not in path:
            if method != "GET":
                return self.error(405, "Method not allowed", "badRequest")
            st.count("datasets.get", 200)
            return self.send(200, {"kind": "bigquery#dataset", "id": "%s:%s" % (project, dataset),
                                   "datasetReference": {"projectId": project,
                                                        "datasetId": dataset},
                                   "location": "US"})
        if table is None and method == "POST":
            return self.tables_insert(project, dataset, body)
        if ins and method == "POST":
            return self.insert_all(full, body)
        if table and method == "GET":
            with st.lock:
                t = st.tables.get(full)
            st.count("tables.get", 200 if t else 404)
            if not t:
                return self.error(404, "Not found: Table %s" % full, "notFound")
            return self.send(200, t)
        if table and method == "PATCH":
            return self.tables_patch(full, body)
        return self.error(400, "Unsupported request", "badRequest")

    # --- control ----------------------------------------------------------

    def control(self, method, path, query, body):
        st = self.server.st
        if path == "/_double/health":
            return self.send(200, {"ok": True})
        if path == "/_double/reset" and method == "POST":
            st.reset()
            return self.send(200, {"ok": True})
        if path == "/_double/fault" and method == "POST":
            f = Fault(json.loads(body))
            if f.kind == "down":
                threading.Thread(target=self.server.go_down,
                                 args=(float(json.loads(body)["seconds"]), self.request),
                                 daemon=True).start()
            else:
                with st.lock:
                    st.faults.append(f)
            return self.send(200, {"ok": True})
        if path == "/_double/config" and method == "POST":
            for k, v in json.loads(body).items():
                if k not in ("token_ttl", "fast", "dedup_window"):
                    return self.send(400, {"error": "unknown setting %s" % k})
                setattr(st.args, k, v)
            return self.send(200, {"ok": True})
        if path == "/_double/revoke" and method == "POST":
            with st.lock:
                st.tokens.clear()
            return self.send(200, {"ok": True})
        if path == "/_double/rows":
            t = query.get("table", [""])[0]
            with st.lock:
                rows = list(st.rows.get(t, []))
            out = "".join(json.dumps({"insertId": i, "json": r}) + "\n" for i, r in rows)
            return self.send(200, raw=out.encode(), ctype="application/x-ndjson")
        if path == "/_double/repeats":
            t = query.get("table", [""])[0]
            with st.lock:
                rep = dict(st.repeats.get(t, {}))
                risk = st.at_risk.get(t, set())
                unexplained = sorted(i for i in rep if i not in risk)
            return self.send(200, {"repeats": rep, "rows": sum(rep.values()),
                                   "at_risk": len(risk), "unexplained": unexplained})
        if path == "/_double/stats":
            with st.lock:
                return self.send(200, st.stats)
        if path == "/_double/tokens":
            with st.lock:
                return self.send(200, {"tokens": list(st.tokens)})
        if path == "/_double/table" and method == "POST":
            t = query.get("table", [""])[0]
            res = json.loads(body)
            with st.lock:
                st.tables[t] = res
                st.rows[t] = []
                st.seen[t] = {}
                st.repeats[t] = {}
            return self.send(200, {"ok": True})
        if path == "/_double/table":
            t = query.get("table", [""])[0]
            with st.lock:
                res = st.tables.get(t)
            return self.send(200 if res else 404, res or {})
        return self.send(404, {"error": "no such control endpoint"})

    # --- auth -------------------------------------------------------------

    def token(self, body):
        st = self.server.st
        f = st.fault({"token"})
        if f:
            st.count("token", f.code)
            return self.send(f.code, {"error": "internal_failure",
                                      "error_description": "injected token failure"})
        form = parse_qs(body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            st.count("token", 400)
            return self.send(400, {"error": "unsupported_grant_type",
                                   "error_description": "Invalid grant_type"})
        why = self.check_jwt((form.get("assertion") or [""])[0])
        if why:
            st.count("token", 400)
            return self.send(400, {"error": "invalid_grant", "error_description": why})
        st.count("token", 200)
        return self.issue_token()

    def check_jwt(self, jwt):
        st = self.server.st
        parts = jwt.split(".")
        if len(parts) != 3 or st.pubkey is None:
            return "Invalid JWT: malformed"
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except Exception:
            return "Invalid JWT: not base64url JSON"
        if "=" in jwt:
            return "Invalid JWT: padding is not allowed in base64url"
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            return "Invalid JWT: alg must be RS256 and typ JWT"
        if header.get("kid") != st.kid:
            return "Invalid JWT Signature."  # Google answers this for an unknown key id
        try:
            st.pubkey.verify(sig, (parts[0] + "." + parts[1]).encode(), padding.PKCS1v15(),
                             hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        now = time.time()
        if claims.get("iss") != st.email:
            return "Invalid JWT: iss is not the service account"
        if claims.get("scope") != SCOPE:
            return "Invalid JWT: scope"
        if claims.get("aud") != self.server.token_url:
            return "Invalid JWT: aud must be %s" % self.server.token_url
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return "Invalid JWT: iat and exp must be integers"
        if exp - iat > 3600 or exp <= iat:
            return "Invalid JWT: Token must be a short-lived token (60 minutes)"
        if abs(iat - now) > 300 or exp < now:
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
        return None

    def issue_token(self):
        st = self.server.st
        tok = "ya29.double-" + secrets.token_urlsafe(24)
        with st.lock:
            st.tokens[tok] = time.time() + st.args.token_ttl
            st.stats["tokens_issued"] = st.stats.get("tokens_issued", 0) + 1
        return self.send(200, {"access_token": tok, "expires_in": st.args.token_ttl,
                               "token_type": "Bearer"})

    def metadata(self):
        st = self.server.st
        if self.headers.get("Metadata-Flavor") != "Google":
            st.count("metadata", 403)
            return self.send(403, raw=b"Missing Metadata-Flavor: Google header", ctype="text/plain")
        f = st.fault({"token"})
        if f:
            st.count("metadata", f.code)
            return self.send(f.code, raw=b"injected failure", ctype="text/plain")
        st.count("metadata", 200)
        return self.issue_token()

    # --- tables -----------------------------------------------------------

    def check_schema(self, fields):
        names = set()
        for f in fields:
            if not isinstance(f, dict) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$",
                                                       str(f.get("name", ""))):
                return "Invalid field name"
            if f["name"].lower() in names:
                return "Duplicate field name %s" % f["name"]
            names.add(f["name"].lower())
            if LEGACY_TYPES.get(f.get("type"), f.get("type")) not in VALID_TYPES:
                return "Invalid value for type: %s is not a valid value" % f.get("type")
            if f.get("mode", "NULLABLE") not in ("NULLABLE", "REQUIRED", "REPEATED"):
                return "Invalid value for mode: %s is not a valid value" % f.get("mode")
        return None

    def tables_insert(self, project, dataset, body):
        st = self.server.st
        try:
            t = json.loads(body)
            ref = t["tableReference"]
            fields = t["schema"]["fields"]
        except Exception:
            st.count("tables.insert", 400)
            return self.error(400, "Invalid table resource", "invalid")
        if ref.get("projectId") != project or ref.get("datasetId") != dataset:
            st.count("tables.insert", 400)
            return self.error(400, "tableReference does not match the URL", "invalid")
        why = self.check_schema(fields)
        tp = t.get("timePartitioning")
        if not why and tp:
            col = next((f for f in fields if f["name"] == tp.get("field")), None)
            if tp.get("type") not in ("DAY", "HOUR", "MONTH", "YEAR") or not col or \
                    col["type"] not in ("TIMESTAMP", "DATE", "DATETIME"):
                why = "Invalid timePartitioning"
        if not why and t.get("clustering"):
            cl = t["clustering"].get("fields", [])
            if len(cl) > 4 or any(c not in {f["name"] for f in fields} for c in cl):
                why = "Invalid clustering fields"
        if why:
            st.count("tables.insert", 400)
            return self.error(400, why, "invalid")
        full = "%s:%s.%s" % (project, dataset, ref["tableId"])
        with st.lock:
            if full in st.tables:
                exists = True
            else:
                exists = False
                t["kind"] = "bigquery#table"
                t["id"] = full
                t["creationTime"] = str(int(time.time() * 1000))
                st.tables[full] = t
                st.rows[full] = []
                st.seen[full] = {}
                st.repeats[full] = {}
        st.count("tables.insert", 409 if exists else 200)
        if exists:
            return self.error(409, "Already Exists: Table %s" % full, "duplicate")
        return self.send(200, t)

    def tables_patch(self, full, body):
        st = self.server.st
        try:
            fields = json.loads(body)["schema"]["fields"]
        except Exception:
            st.count("tables.patch", 400)
            return self.error(400, "Invalid patch", "invalid")
        with st.lock:
            t = st.tables.get(full)
            if not t:
                why, code = "Not found: Table %s" % full, 404
            else:
                why, code = self.check_schema(fields), 400
                old = {f["name"]: f for f in t["schema"]["fields"]}
                new = {f["name"]: f for f in fields}
                for n, f in old.items():
                    if why:
                        break
                    if n not in new:
                        why = "Provided Schema does not match Table %s. Field %s is missing in new schema" % (full, n)
                    elif LEGACY_TYPES.get(new[n]["type"], new[n]["type"]) != LEGACY_TYPES.get(f["type"], f["type"]):
                        why = "Provided Schema does not match Table %s. Field %s has changed type from %s to %s" % (full, n, f["type"], new[n]["type"])
                for n, f in new.items():
                    if not why and n not in old and f.get("mode") == "REQUIRED":
                        why = "Provided Schema does not match Table %s. Cannot add required fields to an existing schema. (field: %s)" % (full, n)
                if not why:
                    t["schema"]["fields"] = fields
        st.count("tables.patch", 200 if not why else code)
        if why:
            return self.error(code, why, "notFound" if code == 404 else "invalid")
        return self.send(200, t)

    # --- insertAll --------------------------------------------------------

    def insert_all(self, full, body):
        st = self.server.st
        with st.lock:
            st.stats["insert_requests"] += 1
            st.stats["bytes_in"] += len(body)
            st.stats["max_body"] = max(st.stats.get("max_body", 0), len(body))
            t = st.tables.get(full)
        f = st.fault({"status", "slow", "reset"})
        if f and f.kind == "reset":
            st.count("insertAll", 0)
            return self.reset_connection()
        if f and f.kind == "slow":
            time.sleep(f.delay)
            st.count("insertAll slowed", 200)
        if f and f.kind == "status":
            st.count("insertAll", f.code)
            reason = f.reason or ("backendError" if f.code >= 500 else
                                  "rateLimitExceeded" if f.code in (403, 429) else "invalid")
            return self.error(f.code, "Injected failure: %s" % reason, reason)
        if t is None:
            st.count("insertAll", 404)
            return self.error(404, "Not found: Table %s" % full, "notFound")
        if len(body) > MAX_BODY:
            st.count("insertAll", 400)
            return self.error(400, "Request payload size exceeds the limit: %d bytes." % MAX_BODY,
                              "badRequest")
        if st.args.count_only:
            return self.insert_count_only(full, body)
        try:
            req = json.loads(body)
            rows = req["rows"]
            if not isinstance(rows, list):
                raise ValueError
        except Exception:
            st.count("insertAll", 400)
            return self.error(400, "Invalid JSON payload received.", "invalid")
        if not rows:
            st.count("insertAll", 400)
            return self.error(400, "No rows present in the request.", "invalid")
        if len(rows) > MAX_ROWS:
            st.count("insertAll", 400)
            return self.error(400, "too many rows present in the request, limit: %d row count." % MAX_ROWS,
                              "invalid")
        ignore_unknown = bool(req.get("ignoreUnknownValues"))
        skip_invalid = bool(req.get("skipInvalidRows"))
        fields = {f["name"]: f for f in t["schema"]["fields"]}
        part = (t.get("timePartitioning") or {}).get("field")
        rowf = st.fault({"row"})
        errors = {}
        for i, r in enumerate(rows):
            if rowf and i % rowf.every == 0:
                errors[i] = {"reason": rowf.reason, "location": "",
                             "message": "Injected %s." % rowf.reason}
                with st.lock:
                    st.stats["row_faults"] = st.stats.get("row_faults", 0) + 1
                continue
            if st.args.fast:
                continue
            js = r.get("json") if isinstance(r, dict) else None
            if not isinstance(js, dict):
                errors[i] = {"reason": "invalid", "location": "", "message": "Row is not a JSON object."}
                continue
            for name, v in js.items():
                fd = fields.get(name)
                if fd is None:
                    if not ignore_unknown:
                        errors[i] = {"reason": "invalid", "location": name,
                                     "message": "no such field: %s." % name}
                        break
                    continue
                why = check_value(fd, v) or (name == part and partition_error(name, v))
                if why:
                    errors[i] = {"reason": "invalid", "location": name, "message": why}
                    break
            if i not in errors:
                for name, fd in fields.items():
                    if fd.get("mode") == "REQUIRED" and js.get(name) is None:
                        errors[i] = {"reason": "invalid", "location": name,
                                     "message": "Missing required field: %s." % name}
                        break
        has_invalid = any(e["reason"] == "invalid" for e in errors.values())
        out = []
        now = time.time()
        stored = deduped = 0
        with st.lock:
            seen, store = st.seen[full], st.rows[full]
            ids = [r.get("insertId") for r in rows if isinstance(r, dict)]
            if f and f.kind == "slow":
                # The client may have given up on this answer and sent again.
                st.at_risk.setdefault(full, set()).update(ids)
            st.inflight[id(self)] = (full, ids)
            for i, r in enumerate(rows):
                e = errors.get(i)
                if e is None and has_invalid and not skip_invalid:
                    e = {"reason": "stopped", "location": "", "message": ""}
                if e is not None:
                    out.append({"index": i, "errors": [e]})
                    continue
                iid = r.get("insertId")
                if iid is not None:
                    t0 = seen.get(iid)
                    if t0 is not None:
                        # Every repeat is on record, hidden by the dedup window or not.
                        rep = st.repeats.setdefault(full, {})
                        rep[iid] = rep.get(iid, 0) + 1
                        st.stats["rows_repeated"] += 1
                    if t0 is not None and now - t0 < st.args.dedup_window:
                        deduped += 1
                        continue
                    seen[iid] = now
                store.append((iid, None if st.args.fast and not st.args.keep_rows else r.get("json")))
                stored += 1
            st.stats["rows_stored"] += stored
            st.stats["rows_deduped"] += deduped
            st.stats["rows_invalid"] += sum(1 for e in errors.values() if e["reason"] == "invalid")
        st.count("insertAll", 200)
        resp = {"kind": "bigquery#tableDataInsertAllResponse"}
        if out:
            resp["insertErrors"] = out
        sent = False
        try:
            r = self.send(200, resp)
            sent = True
            return r
        finally:
            with st.lock:
                st.inflight.pop(id(self), None)
                if sent:
                    st.answered[id(self)] = (time.monotonic(), full, ids)
                else:
                    # Stored, but the answer never left (a `down` cut the
                    # connection under it): the client will send them again.
                    st.at_risk.setdefault(full, set()).update(ids)


    IID_RE = re.compile(rb'"insertId":"([^"]*)"')

    def insert_count_only(self, full, body):
        """Benchmarks of the client: no JSON parse, no checks; rows are
        counted and deduplicated by the insertIds found in the body."""
        st = self.server.st
        ids = self.IID_RE.findall(body)
        with st.lock:
            seen = st.seen[full]
            before = len(seen)
            rep = st.repeats.setdefault(full, {})
            for iid in ids:
                if iid in seen:
                    rep[iid] = rep.get(iid, 0) + 1
            seen.update(dict.fromkeys(ids, 0))
            stored = len(seen) - before
            st.stats["rows_stored"] += stored
            st.stats["rows_deduped"] += len(ids) - stored
            st.stats["rows_repeated"] += len(ids) - stored
        st.count("insertAll", 200)
        return self.send(200, raw=b'{"kind":"bigquery#tableDataInsertAllResponse"}')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, st, tls_ctx, plain=False):
        super().__init__(addr, Handler)
        self.st, self.tls_ctx, self.plain = st, tls_ctx, plain
        self.token_url = None
        self.peers = []
        self.conns = set()  # open client connections, cut by go_down()
        self.up = threading.Event()  # the listener is open (see pause())
        self.up.set()

    def handle_error(self, request, client_address):
        # Clients that time out and hang up are part of the tests, not news.
        if not isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)) or self.st.args.verbose:
            super().handle_error(request, client_address)

    def go_down(self, seconds, spare=None):
        """Refuse connections for a while: close every listener, then reopen
        on the same port. Open keep-alive connections (but spare, the one
        that asked) are cut too."""
        with self.st.lock:
            for full, ids in self.st.inflight.values():
                self.st.at_risk.setdefault(full, set()).update(ids)
            # An answer written within the last second may still be on its way
            # when the connection is cut.
            now = time.monotonic()
            for t, full, ids in self.st.answered.values():
                if now - t < 1.0:
                    self.st.at_risk.setdefault(full, set()).update(ids)
        threads = [threading.Thread(target=s.pause, args=(seconds, spare), daemon=True)
                   for s in [self] + self.peers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def pause(self, seconds, spare=None):
        # Stop the accept loop before closing its socket: a loop left polling
        # a closed descriptor spins on it and never sees the new socket
        # (unless the new one happens to get the same number).
        port = self.server_address[1]
        self.up.clear()
        self.shutdown()
        self.socket.close()
        with self.st.lock:
            conns = list(self.conns)
        for c in conns:
            if c is spare:
                continue
            try:
                # The plain socket's shutdown: SSLSocket.shutdown() would also
                # drop the TLS object under the thread still using it.
                socket.socket.shutdown(c, socket.SHUT_RDWR)
            except Exception:
                pass
        time.sleep(seconds)
        sock = socket.socket(self.address_family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(100):
            try:
                sock.bind((self.server_address[0], port))
                break
            except OSError:
                time.sleep(0.05)
        sock.listen(self.request_queue_size)
        self.socket = sock
        self.up.set()

    def serve(self):
        # pause() stops serve_forever(), swaps the socket and sets `up`
        # again; then the loop starts over on the new socket.
        while True:
            self.up.wait()
            try:
                self.serve_forever(poll_interval=0.05)
            except (OSError, ValueError):
                time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="HTTPS port (0: pick one)")
    ap.add_argument("--port-file", help="write the HTTPS port here once listening")
    ap.add_argument("--cert", help="server certificate (PEM); without it: plain HTTP")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--metadata-port", type=int, help="also serve the metadata endpoint on plain HTTP")
    ap.add_argument("--metadata-port-file")
    ap.add_argument("--sa-key", help="service-account key JSON whose public key signs JWTs")
    ap.add_argument("--dataset", action="append", help="project:dataset that exists (repeatable)")
    ap.add_argument("--token-ttl", type=int, default=3600, help="expires_in of issued tokens")
    ap.add_argument("--dedup-window", type=float, default=600.0, help="insertId dedup window, s")
    ap.add_argument("--no-auth", action="store_true", help="accept requests without a token")
    ap.add_argument("--fast", action="store_true",
                    help="benchmarks: parse the JSON and dedup, skip per-column checks, keep only insertIds")
    ap.add_argument("--count-only", action="store_true",
                    help="benchmarks of the client: count and dedup insertIds without parsing")
    ap.add_argument("--keep-rows", action="store_true", help="with --fast, keep the rows too")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    st = State(args)
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
    srv = Server(("127.0.0.1", args.port), st, ctx)
    port = srv.server_address[1]
    srv.token_url = "%s://127.0.0.1:%d/token" % ("https" if ctx else "http", port)
    threads = [threading.Thread(target=srv.serve, daemon=True)]
    if args.metadata_port is not None:
        msrv = Server(("127.0.0.1", args.metadata_port), st, None, plain=True)
        srv.peers.append(msrv)
        threads.append(threading.Thread(target=msrv.serve, daemon=True))
        if args.metadata_port_file:
            with open(args.metadata_port_file + ".tmp", "w") as f:
                f.write("%d\n" % msrv.server_address[1])
            os.rename(args.metadata_port_file + ".tmp", args.metadata_port_file)
    for t in threads:
        t.start()
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(args.port_file + ".tmp", args.port_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    random.seed()
    main()
