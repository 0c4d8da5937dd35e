#!/usr/bin/env python3
"""Checks of the test double itself, so the sink's tests rest on a double
that really is strict: JWT checks, the request limits, dedup, auth, the
metadata header. JWTs are built here with python3-cryptography, independently
of the C code. Run through run-double.sh (it provides DV_BQ_TEST_*)."""

import base64
import json
import os
import ssl
import time
import unittest
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

DIR = os.environ["DV_BQ_TEST_DIR"]
BASE = "https://127.0.0.1:%s" % os.environ["DV_BQ_TEST_PORT"]
MD = "http://127.0.0.1:%s" % os.environ["DV_BQ_TEST_MDPORT"]
CTX = ssl.create_default_context(cafile=os.path.join(DIR, "ca-a.pem"))
with open(os.path.join(DIR, "sa.json")) as _f:
    KEY = json.load(_f)
TABLE = "/bigquery/v2/projects/p/datasets/d/tables"


def call(url, data=None, headers=None, method=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, context=CTX if url.startswith("https") else None,
                                    timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body.decode()


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims=None, header=None, key_pem=None):
    now = int(time.time())
    h = {"alg": "RS256", "typ": "JWT", "kid": KEY["private_key_id"]}
    h.update(header or {})
    c = {"iss": KEY["client_email"], "scope": "https://www.googleapis.com/auth/bigquery",
         "aud": BASE + "/token", "iat": now, "exp": now + 3600}
    c.update(claims or {})
    signing = b64(json.dumps(h).encode()) + "." + b64(json.dumps(c).encode())
    priv = serialization.load_pem_private_key((key_pem or KEY["private_key"]).encode(), None)
    sig = priv.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64(sig)


def token_request(assertion):
    body = ("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" +
            assertion).encode()
    return call(BASE + "/token", body, {"Content-Type": "application/x-www-form-urlencoded"})


class Double(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        call(BASE + "/_double/reset", b"{}")
        st, tok = token_request(jwt())
        assert st == 200, tok
        cls.auth = {"Authorization": "Bearer " + tok["access_token"],
                    "Content-Type": "application/json"}
        schema = {"fields": [{"name": "a", "type": "INTEGER", "mode": "REQUIRED"},
                             {"name": "s", "type": "STRING"}]}
        st, _ = call(BASE + TABLE, json.dumps({
            "tableReference": {"projectId": "p", "datasetId": "d", "tableId": "t"},
            "schema": schema}).encode(), cls.auth)
        assert st == 200

    def insert(self, rows, raw=None):
        body = raw if raw is not None else json.dumps({"rows": rows}).encode()
        return call(BASE + TABLE + "/t/insertAll", body, self.auth)

    def test_jwt_checks(self):
        with open(os.path.join(DIR, "sa-wrong.pem")) as f:
            wrong = f.read()
        for bad in (jwt({"aud": "https://oauth2.googleapis.com/token"}),
                    jwt({"exp": int(time.time()) + 3601}),
                    jwt({"scope": "https://www.googleapis.com/auth/cloud-platform"}),
                    jwt({"iss": "someone@else"}),
                    jwt({"iat": int(time.time()) - 4000, "exp": int(time.time()) - 400}),
                    jwt(header={"kid": "other"}),
                    jwt(header={"alg": "HS256"}),
                    jwt(key_pem=wrong),
                    jwt()[:-4] + "AAAA"):
            st, ans = token_request(bad)
            self.assertEqual(st, 400, bad)
            self.assertEqual(ans["error"], "invalid_grant")
        self.assertEqual(token_request(jwt())[0], 200)

    def test_no_token_401(self):
        st, ans = call(BASE + TABLE + "/t", headers={})
        self.assertEqual(st, 401)
        self.assertEqual(ans["error"]["status"], "UNAUTHENTICATED")

    def test_limits(self):
        st, ans = self.insert([{"json": {"a": 1}}] * 50001)
        self.assertEqual(st, 400)
        self.assertIn("too many rows", ans["error"]["message"])
        big = json.dumps({"rows": [{"json": {"a": 1, "s": "x" * (10 * 1024 * 1024)}}]}).encode()
        st, ans = self.insert(None, raw=big)
        self.assertEqual(st, 400)
        self.assertIn("payload size exceeds", ans["error"]["message"])
        st, ans = self.insert([])
        self.assertEqual(st, 400)

    def test_invalid_and_stopped(self):
        st, ans = self.insert([{"insertId": "i1", "json": {"a": 1}},
                               {"insertId": "i2", "json": {"a": "x"}},
                               {"insertId": "i3", "json": {"s": "no a"}},
                               {"insertId": "i4", "json": {"a": 2, "zz": 1}}])
        self.assertEqual(st, 200)
        errs = {e["index"]: e["errors"][0] for e in ans["insertErrors"]}
        self.assertEqual(errs[0]["reason"], "stopped")
        self.assertEqual(errs[1]["reason"], "invalid")
        self.assertIn("Missing required field: a", errs[2]["message"])
        self.assertIn("no such field: zz", errs[3]["message"])

    def test_dedup(self):
        for _ in range(2):
            st, ans = self.insert([{"insertId": "d1", "json": {"a": 7}}])
            self.assertEqual((st, ans.get("insertErrors")), (200, None))
        with urllib.request.urlopen(BASE + "/_double/rows?table=p:d.t", context=CTX) as r:
            ids = [json.loads(l)["insertId"] for l in r.read().splitlines()]
        self.assertEqual(ids.count("d1"), 1)
        # The repeat is hidden from the rows but on record.
        with urllib.request.urlopen(BASE + "/_double/repeats?table=p:d.t", context=CTX) as r:
            self.assertEqual(json.loads(r.read())["repeats"].get("d1"), 1)

    def test_repeats_stored_without_dedup(self):
        """With dedup_window 0 a repeat is stored, so "stored once" can fail."""
        call(BASE + "/_double/config", json.dumps({"dedup_window": 0}).encode())
        try:
            for _ in range(2):
                st, ans = self.insert([{"insertId": "r1", "json": {"a": 8}}])
                self.assertEqual((st, ans.get("insertErrors")), (200, None))
        finally:
            call(BASE + "/_double/config", json.dumps({"dedup_window": 600}).encode())
        with urllib.request.urlopen(BASE + "/_double/rows?table=p:d.t", context=CTX) as r:
            ids = [json.loads(l)["insertId"] for l in r.read().splitlines()]
        self.assertEqual(ids.count("r1"), 2)

    def test_metadata_header(self):
        url = MD + "/computeMetadata/v1/instance/service-accounts/default/token"
        self.assertEqual(call(url)[0], 403)
        st, ans = call(url, headers={"Metadata-Flavor": "Google"})
        self.assertEqual(st, 200)
        self.assertIn("access_token", ans)

    def test_patch_rules(self):
        url = BASE + TABLE + "/t"
        st, _ = call(url, json.dumps({"schema": {"fields": [
            {"name": "a", "type": "STRING", "mode": "REQUIRED"},
            {"name": "s", "type": "STRING"}]}}).encode(), self.auth, "PATCH")
        self.assertEqual(st, 400)  # type change
        st, _ = call(url, json.dumps({"schema": {"fields": [
            {"name": "a", "type": "INTEGER", "mode": "REQUIRED"}, {"name": "s", "type": "STRING"},
            {"name": "n", "type": "INTEGER", "mode": "REQUIRED"}]}}).encode(), self.auth, "PATCH")
        self.assertEqual(st, 400)  # new REQUIRED column


if __name__ == "__main__":
    unittest.main(verbosity=2)
