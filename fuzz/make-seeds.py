#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (committed; re-run only to refresh).
Sources: the IETF SD-JWT reference vectors (../shared/vectors, when present), the examples in
the crates' own tests, and the fixtures' documents. Each seed starts with the target's mode
byte where the target has one (see the target's doc comment)."""
import glob, hashlib, json, os, sys, urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VECTORS = os.path.join(ROOT, "..", "shared", "vectors", "sd-jwt-reference")

def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# --- sdjwt: raw compact forms (mode 0) from the reference vectors
for path in sorted(glob.glob(os.path.join(VECTORS, "*.json"))):
    v = json.load(open(path))
    write("sdjwt", "raw-" + v["name"] + "-issuance", b"\x00" + v["issuance"].encode())
    if v.get("presentation"):
        write("sdjwt", "raw-" + v["name"] + "-presentation", b"\x00" + v["presentation"].encode())

# --- sdjwt: recipes (mode 1 = SD-JWT VC, 2 = plain); see fuzz_targets/sdjwt.rs
def disclosure(*parts):
    return json.dumps(list(parts), separators=(",", ":"))

recipes = {
    "vc-flat": (1, {"iss": "https://duo.holders.kluis.test", "vct": "urn:nl:duo:student-debt:1",
                    "iat": 1749990000, "exp": 1790000000, "cnf": "$cnf", "_sd_alg": "sha-256",
                    "_sd": ["#0", "#1", "#2"]},
                [disclosure("s0", "given_name", "Sanne"), disclosure("s1", "family_name", "de Vries"),
                 disclosure("s2", "debt", {"total": 12000, "currency": "EUR"})], None),
    "vc-nested": (1, {"iss": "https://gemeente.holders.kluis.test", "vct": "urn:nl:gemeente:brp-address:1",
                      "cnf": "$cnf", "_sd": ["#0"], "address": {"_sd": ["#1", "#2"], "country": "NL"},
                      "nationalities": [{"...": "#3"}, "DE"]},
                  [disclosure("s0", "birthdate", "1990-01-01"), disclosure("s1", "street", "Oudegracht"),
                   disclosure("s2", "locality", "Utrecht"), disclosure("s3", "NL")], None),
    "vc-recursive": (1, {"iss": "https://uwv.holders.kluis.test", "vct": "urn:nl:uwv:income-statement:1",
                         "cnf": "$cnf", "_sd": ["#1"]},
                     [disclosure("s0", "gross", 41000), disclosure("s1", "income", {"_sd": ["#0"], "year": 2025}),
                      disclosure("s2", "decoy-never-referenced", None)], None),
    "vc-with-kb": (1, {"iss": "https://cak.holders.kluis.test", "vct": "urn:nl:cak:care-arrears:1",
                       "cnf": "$cnf", "_sd": ["#0"]},
                   [disclosure("s0", "arrears", [1, 2.5, True, None, "x", {"a": []}])],
                   {"iat": 1750000000, "aud": "a", "nonce": "n", "sd_hash": "$sd_hash"}),
    "plain-arrays": (2, {"iss": "https://example.com", "list": [{"...": "#0"}, {"...": "#1"}, [{"...": "#2"}]]},
                     [disclosure("s0", 1), disclosure("s1", {"_sd": ["#2"]}), disclosure("s2", "deep")], None),
}
for name, (mode, payload, discs, kb) in recipes.items():
    lines = [json.dumps(payload, separators=(",", ":"))] + discs
    if kb:
        lines.append("KB " + json.dumps(kb, separators=(",", ":")))
    write("sdjwt", "recipe-" + name, bytes([mode]) + "\n".join(lines).encode())

# --- offer_metadata
PRE = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
offer = {"credential_issuer": "https://duo.holders.kluis.test",
         "credential_configuration_ids": ["student-debt"],
         "grants": {PRE: {"pre-authorized_code": "abc", "tx_code": {"length": 6, "input_mode": "numeric",
                                                                   "description": "SMS"}}}}
write("offer_metadata", "offer-by-value",
      b"\x00openid-credential-offer://?credential_offer=" + urllib.parse.quote(json.dumps(offer)).encode())
write("offer_metadata", "offer-by-reference",
      b"\x00openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fduo.holders.kluis.test%2Foffers%2F1")
write("offer_metadata", "offer-loopback",
      b"\x00openid-credential-offer://?credential_offer_uri=http%3A%2F%2F127.0.0.1%3A8080%2Foffers%2F1")
write("offer_metadata", "offer-json", b"\x01" + json.dumps(offer).encode())
meta = {"credential_issuer": "https://duo.holders.kluis.test",
        "authorization_servers": ["https://duo.holders.kluis.test"],
        "credential_endpoint": "https://duo.holders.kluis.test/credential",
        "nonce_endpoint": "https://duo.holders.kluis.test/nonce",
        "deferred_credential_endpoint": "https://duo.holders.kluis.test/deferred",
        "notification_endpoint": "https://duo.holders.kluis.test/notification",
        "batch_credential_issuance": {"batch_size": 10},
        "display": [{"name": "DUO", "locale": "nl"}, {"name": "DUO", "locale": "en"}],
        "credential_configurations_supported": {
            "student-debt": {"format": "dc+sd-jwt", "vct": "urn:nl:duo:student-debt:1",
                             "credential_metadata": {"display": [{"name": "Studieschuld", "locale": "nl"}]}},
            "mdoc": {"format": "mso_mdoc", "doctype": "x"}}}
as_meta = {"issuer": "https://duo.holders.kluis.test", "token_endpoint": "https://duo.holders.kluis.test/token"}
write("offer_metadata", "metadata", b"\x02" + json.dumps({"meta": meta, "as": as_meta}).encode())
for path in sorted(glob.glob(os.path.join(ROOT, "fixtures", "metadata", "*.json"))):
    write("offer_metadata", "type-" + os.path.basename(path), b"\x03" + open(path, "rb").read())

# --- dcql (the examples of core/verifier/src/openid4vp/dcql.rs tests)
queries = [
    {"credentials": [
        {"id": "address", "format": "dc+sd-jwt", "meta": {"vct_values": ["https://credentials.kluis.test/address"]},
         "claims": [{"path": ["address", "locality"], "values": ["Utrecht", "Amersfoort"]}]},
        {"id": "income", "format": "dc+sd-jwt", "meta": {"vct_values": ["https://credentials.kluis.test/income-statement"]},
         "claims": [{"path": ["income", "months", None]}]}]},
    {"credentials": [{"id": "p", "format": "dc+sd-jwt",
                      "claims": [{"id": "a", "path": ["loans", 0, "amount"]}, {"id": "b", "path": ["given_name"]}],
                      "claim_sets": [["a"], ["b"]]}]},
    {"credentials": [{"id": "brp", "format": "dc+sd-jwt", "multiple": True},
                     {"id": "inc", "format": "dc+sd-jwt", "require_cryptographic_holder_binding": False},
                     {"id": "mdl", "format": "mso_mdoc"}],
     "credential_sets": [{"options": [["mdl"], ["brp"]]}, {"options": [["inc"]], "required": False}]},
]
for i, q in enumerate(queries):
    write("dcql", f"query-{i}", json.dumps(q))
write("dcql", "with-candidates", json.dumps({"query": queries[0], "candidates": [
    {"vct": "https://credentials.kluis.test/address", "claims": {"address": {"locality": "Utrecht"}}, "bound": True},
    {"vct": "x", "claims": [1, 2, 3]}]}))

# --- qr: Base45 strings (the offline payloads themselves are written by the qr target's
# KLUIS_FUZZ_QR_SEED hook, see run.sh)
write("qr", "base45-hello", "%69 VD92EX0")
write("qr", "base45-empty", "")
write("qr", "kl1-garbage", "KL1:00000000")

# --- vault_record: plaintext encodings (even first byte = sealed by the harness)
rec = {"compact": "eyJ.eyJ.sig~", "issuer": "https://duo.holders.kluis.test", "vct": "urn:nl:duo:student-debt:1",
       "iat": 1, "exp": None, "copies": ["a", "b"], "extra": {"k": [1, 2.5, None]}}
write("vault_record", "json-record", b"\x00\x01" + json.dumps(rec).encode())
write("vault_record", "unknown-encoding", b"\x00\x07{}")
write("vault_record", "raw-envelope", b"\x01\x01" + bytes(24) + b"ciphertext" + bytes(16))

# --- scheme_list: payloads the harness signs (mode 1)
plist = {"iss": "https://scheme.kluis.test", "iat": 1749990000, "exp": 1790000000,
         "holders": [{"id": "duo", "name": {"nl": "DUO", "en": "DUO"}, "credential_issuer": "https://duo.holders.kluis.test",
                      "keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}],
                      "credential_types": ["urn:nl:duo:student-debt:1"]}],
         "requesting_parties": []}
write("scheme_list", "signed-list", b"\x01" + json.dumps(plist).encode())
rp_path = os.path.join(ROOT, "fixtures", "data", "requesting_parties.json")
if os.path.exists(rp_path):
    rps = json.load(open(rp_path))
    plist2 = dict(plist, requesting_parties=rps if isinstance(rps, list) else rps.get("requesting_parties", []))
    write("scheme_list", "signed-list-with-parties", b"\x01" + json.dumps(plist2).encode())
write("scheme_list", "raw-not-a-jwt", b"\x00a.b.c")

# --- status_list: the Token Status List draft's examples (bits, lst)
write("status_list", "draft-1bit", b"\x01" + b"eNrbuRgAAhcBXQ")
write("status_list", "draft-2bit", b"\x02" + b"eNo76fITAAPfAgc")
# --- openid4vp (mode byte first); engagement and KL2 seeds come from the target's init hook
write("openid4vp", "link", b"\x00openid4vp://?client_id=woningcorporatie-eemland&request_uri=http%3A%2F%2F127.0.0.1%3A7107%2Frequest%2Fabc")
write("openid4vp", "link-authorize", b"\x00openid4vp://authorize?client_id=x509_san_dns%3Aa.example&request_uri=https%3A%2F%2Fa.example%2Fr")
write("openid4vp", "client-id", b"\x02verifier_attestation:bank-utrecht")
write("openid4vp", "form", b"\x05vp_token=%7B%22q%22%3A%5B%22a~b~%22%5D%7D&state=xyz")
import base64
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
req_payload = {"client_id": "woningcorporatie-eemland", "response_type": "vp_token", "response_mode": "direct_post",
               "response_uri": "http://127.0.0.1:7107/response", "nonce": "n", "state": "s",
               "dcql_query": {"credentials": [{"id": "brp", "format": "dc+sd-jwt"}]}}
jwt = b64(json.dumps({"alg": "ES256", "typ": "oauth-authz-req+jwt"}).encode()) + "." + b64(json.dumps(req_payload).encode()) + "." + b64(bytes(64))
write("openid4vp", "request-object", b"\x01" + jwt.encode())

# --- mandate: payloads the harness signs (mode 1), a raw JWT (mode 0)
jwk = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
mandate = {"jti": "m-1", "iat": 1749990000, "nbf": 1749990000, "exp": 1790000000, "cnf": {"jwk": jwk},
           "scope": {"vct": ["urn:nl:duo:student-debt:1"], "claims": ["/debt"], "actions": ["present", "view"],
                     "parties": ["woningcorporatie-eemland"], "purposes": ["rental"]},
           "redelegation": False, "status": {"status_list": {"idx": 3, "uri": "https://wallet.kluis.test/status/1"}},
           "status_key": jwk}
write("mandate", "signed-mandate", b"\x01" + json.dumps(mandate).encode())
write("mandate", "raw-mandate", b"\x00" + (b64(json.dumps({"alg": "ES256", "typ": "kluis-mandate+jwt"}).encode()) + "." + b64(json.dumps(mandate).encode()) + "." + b64(bytes(64))).encode())
write("mandate", "package", b"\x02" + b"eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSJ9..aaaa.bbbb.cccc")
write("mandate", "status-list", b"\x03" + (b64(json.dumps({"alg": "ES256", "typ": "statuslist+jwt"}).encode()) + "." + b64(json.dumps({"sub": "https://wallet.kluis.test/status/1", "exp": 1790000000, "status_list": {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}}).encode()) + "." + b64(bytes(64))).encode())
print("seeds written", file=sys.stderr)

# --- backup: odd first byte = a backup file; even = the sealed contents (see fuzz_targets/backup.rs)
import struct
def framed(b):
    return struct.pack(">I", len(b)) + b
def contents(records):
    out = struct.pack(">I", len(records))
    for kind, rid, value in records:
        out += framed(kind.encode()) + framed(rid.encode()) + framed(b"\x01" + json.dumps(value, separators=(",", ":")).encode())
    return out
genesis = "0" * 64
body = json.dumps([1, 1750000000, "citizen", {"type": "vault_created"}], separators=(",", ":"))
h1 = hashlib.sha256((genesis + "\n" + body).encode()).hexdigest()
entry = {"seq": 1, "at": 1750000000, "actor": "citizen", "event": {"type": "vault_created"}, "prev_hash": genesis, "hash": h1}
cred = {"compact": "eyJ.x.y~", "issuer": "https://duo.holders.kluis.test", "vct": "urn:nl:duo:student-debt:1",
        "issued_at": 1749990000, "expires_at": None, "imported_at": 1750000000, "binding": "this_wallet",
        "holder_key_id": "holder-key-primary-device", "copies": [{"compact": "eyJ.a.b~", "holder_key_id": "k1"}]}
write("backup", "contents-chain-and-device-bound", b"\x00" + contents([
    ("audit", "0000000000000001", entry), ("audit_head", "head", {"seq": 1, "hash": h1}),
    ("holder_key", "holder-key-primary-device", {"location": "device", "handle_b64": ""}),
    ("credential", "00112233445566778899aabbccddeeff", cred)]))
write("backup", "contents-broken-chain", b"\x00" + contents([("audit", "0000000000000001", dict(entry, hash=genesis))]))
write("backup", "contents-empty", b"\x00" + contents([]))
write("backup", "file-header-only", b"\x01KLUISBAK\x01" + framed(json.dumps({
    "wallet_id": "00" * 16, "backup_id": "11" * 16, "created_at": 1750000000,
    "kdf": {"m_kib": 256, "t": 1, "p": 1}, "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
    "check": "AAAAAAAAAAAAAAAAAAAAAA==", "wrapped_dek": "AA=="}).encode()) + bytes(41))
