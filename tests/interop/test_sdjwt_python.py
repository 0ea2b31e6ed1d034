"""Cross-checks kluis-sdjwt against the IETF reference implementation, sd-jwt 0.10.4 (PyPI),
both ways: our presentations verified by its verifier, its presentations verified by ours.
Also against @sd-jwt/sd-jwt-vc 0.19.0 on Node when bench/sdjwt-peers is installed (skipped
otherwise, with the reason).

Needs: pip install sd-jwt==0.10.4 pytest
and the driver: cargo build -p kluis-sdjwt --example sdjwt_tool
(found at $SDJWT_TOOL, else $CARGO_TARGET_DIR or <repo>/target, debug/examples/sdjwt_tool).
"""

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

REPO = Path(__file__).resolve().parents[2]
ISS = "https://utrecht.holders.kluis.test"
VCT = "urn:nl:gemeente:brp-address:1"
NONCE = "n-4f2c9a1d"
AUD = "https://verhuurder.verifiers.kluis.test"


def tool_path() -> Path:
    if os.environ.get("SDJWT_TOOL"):
        return Path(os.environ["SDJWT_TOOL"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "examples" / "sdjwt_tool"


def tool(cmd: str, payload: dict, ok: bool = True) -> dict:
    exe = tool_path()
    assert exe.exists(), f"build it first: cargo build -p kluis-sdjwt --example sdjwt_tool ({exe})"
    proc = subprocess.run([str(exe), cmd], input=json.dumps(payload), capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1), f"sdjwt_tool {cmd} usage error: {proc.stderr}"
    out = json.loads(proc.stdout)
    if ok:
        assert proc.returncode == 0, f"sdjwt_tool {cmd} refused: {out}"
    return out


def citizen_claims() -> dict:
    """Sanne's BRP address credential from the shared fixture data."""
    data = json.loads((REPO / "fixtures" / "data" / "citizens.json").read_text())
    sanne = next(c for c in data["citizens"] if c["id"] == "sanne")
    return sanne["credentials"][VCT]


def new_key() -> JWK:
    return JWK.generate(kty="EC", crv="P-256")


def public(jwk: JWK) -> dict:
    return jwk.export_public(as_dict=True)


def private(jwk: JWK) -> dict:
    return jwk.export_private(as_dict=True)


@pytest.fixture()
def keys():
    return {"issuer": new_key(), "holder": new_key()}


def our_issue(keys, claims=None, policy="all", now=None, status=True):
    now = now or int(time.time())
    return tool(
        "issue",
        {
            "issuer_jwk": private(keys["issuer"]),
            "iss": ISS,
            "vct": VCT,
            "claims": claims or citizen_claims(),
            "holder_jwk": public(keys["holder"]),
            "status": {"status_list": {"idx": 7, "uri": "https://utrecht.holders.kluis.test/status/1"}} if status else None,
            "iat": now - 60,
            "exp": now + 86400,
            "policy": policy,
            "decoys": [1, 3],
        },
    )["sd_jwt"]


def our_present(keys, sd_jwt, paths, nonce=NONCE, aud=AUD, kb_claims=None):
    now = int(time.time())
    return tool(
        "present",
        {
            "sd_jwt": sd_jwt,
            "issuer_public_jwk": public(keys["issuer"]),
            "holder_jwk": private(keys["holder"]),
            "paths": paths,
            "nonce": nonce,
            "aud": aud,
            "iat": now,
            "now": now,
            "kb_claims": kb_claims or {},
        },
    )["presentation"]


def our_verify(keys, presentation, nonce=NONCE, aud=AUD, ok=True):
    return tool(
        "verify",
        {
            "presentation": presentation,
            "issuer_public_jwk": public(keys["issuer"]),
            "nonce": nonce,
            "aud": aud,
            "now": int(time.time()),
        },
        ok=ok,
    )


def python_verify(keys, presentation, nonce=NONCE, aud=AUD) -> dict:
    def issuer_key(iss, header):
        assert iss == ISS
        return keys["issuer"]

    return SDJWTVerifier(presentation, issuer_key, expected_aud=aud, expected_nonce=nonce).get_verified_payload()


def python_issue(keys, claims) -> str:
    """Issues with the reference: every member and element selectively disclosable."""

    def wrap(v):
        if isinstance(v, dict):
            return {SDObj(k): wrap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [SDObj(wrap(x)) for x in v]
        return v

    now = int(time.time())
    user_claims = {"iss": ISS, "iat": now - 60, "exp": now + 86400, "vct": VCT, **wrap(claims)}
    issuer = SDJWTIssuer(
        user_claims,
        keys["issuer"],
        holder_key=keys["holder"],
        sign_alg="ES256",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt"},
    )
    return issuer.sd_jwt_issuance


def tree_for(paths):
    """The reference holder's claims_to_disclose tree for leaf claim paths."""
    tree: dict = {}
    for p in paths:
        segs = [int(s) if s.isdigit() else s for s in p.strip("/").split("/")]
        node = tree
        for s, nxt in zip(segs, segs[1:] + [None]):
            child = True if nxt is None else ([] if isinstance(nxt, int) else {})
            if isinstance(s, int):
                node.extend([None] * (s + 1 - len(node)))
                if node[s] is None or child is True:
                    node[s] = child
            elif s not in node or child is True:
                node[s] = child
            node = node[s]
    return tree


SELECTIONS = [
    [],
    ["/given_name", "/family_name"],
    ["/address/locality", "/address/postal_code"],
    ["/nationalities/0", "/birthdate"],
    ["/address"],  # a whole object with all its members
]


def test_reference_ignores_our_association_claim(keys):
    """A KB-JWT of a multi-credential kluis answer carries `kluis_assoc` (docs/PRESENTING.md
    "One answer, one wallet"): the reference verifier, which does not know it, still verifies."""
    sd_jwt = our_issue(keys)
    assoc = {"kluis_assoc": "u8QJ3cEhGS2sMu7gX0oUQzL1nzQ9Ru1HkYvBfX1qSxE"}
    presentation = our_present(keys, sd_jwt, ["/given_name"], kb_claims=assoc)
    kb = presentation.rsplit("~", 1)[1]
    payload = json.loads(base64.urlsafe_b64decode(kb.split(".")[1] + "=="))
    assert payload["kluis_assoc"] == assoc["kluis_assoc"]
    theirs = python_verify(keys, presentation)
    assert theirs == our_verify(keys, presentation)["claims"]
    assert theirs["given_name"] == citizen_claims()["given_name"]


@pytest.mark.parametrize("paths", SELECTIONS, ids=lambda p: ",".join(p) or "nothing")
def test_reference_verifies_our_presentations(keys, paths):
    sd_jwt = our_issue(keys)
    presentation = our_present(keys, sd_jwt, paths)
    theirs = python_verify(keys, presentation)
    ours = our_verify(keys, presentation)["claims"]
    assert theirs == ours
    full = citizen_claims()
    for p in paths:
        segs = p.strip("/").split("/")
        want, got = full, theirs
        for s in segs:
            want = want[int(s)] if isinstance(want, list) else want[s]
            got = got[0] if isinstance(got, list) else got[s]
        assert got == want
    hidden = {k for k in full if not any(p.startswith(f"/{k}") for p in paths)}
    assert not hidden & set(theirs), "nothing beyond the chosen paths is disclosed"


def test_we_verify_reference_presentations(keys):
    claims = citizen_claims()
    issuance = python_issue(keys, claims)
    holder = SDJWTHolder(issuance)
    paths = ["/given_name", "/address/locality", "/nationalities/0"]
    holder.create_presentation(tree_for(paths), nonce=NONCE, aud=AUD, holder_key=keys["holder"], sign_alg="ES256")
    presentation = holder.sd_jwt_presentation
    ours = our_verify(keys, presentation)
    assert ours["key_bound"] is True
    assert ours["claims"] == python_verify(keys, presentation)
    assert ours["claims"]["address"] == {"locality": "Utrecht"}
    assert ours["claims"]["nationalities"] == ["NL"]
    assert "family_name" not in ours["claims"]


def test_we_hold_reference_issued_credentials(keys):
    claims = citizen_claims()
    issuance = python_issue(keys, claims)
    now = int(time.time())
    shown = tool("show", {"sd_jwt": issuance, "issuer_public_jwk": public(keys["issuer"]), "now": now})
    assert {k: shown["claims"][k] for k in claims} == claims
    assert "/address/locality" in shown["disclosable_paths"]
    presentation = our_present(keys, issuance, ["/bsn", "/address/street"])
    theirs = python_verify(keys, presentation)
    assert theirs["bsn"] == claims["bsn"]
    assert theirs["address"] == {"street": claims["address"]["street"]}
    assert "given_name" not in theirs


def test_rejections_agree(keys):
    sd_jwt = our_issue(keys)
    presentation = our_present(keys, sd_jwt, ["/given_name"])
    # Wrong nonce: both refuse.
    assert our_verify(keys, presentation, nonce="other", ok=False)["error"] == "nonce_mismatch"
    with pytest.raises(ValueError):
        python_verify(keys, presentation, nonce="other")
    # A disclosure dropped after key binding: both refuse.
    parts = presentation.split("~")
    tampered = "~".join([parts[0]] + parts[2:])
    assert our_verify(keys, tampered, ok=False)["error"] == "sd_hash_mismatch"
    with pytest.raises(ValueError):
        python_verify(keys, tampered)
    # Python presentation for another audience: we refuse it.
    issuance = python_issue(keys, citizen_claims())
    holder = SDJWTHolder(issuance)
    holder.create_presentation({"given_name": True}, nonce=NONCE, aud="https://elsewhere.example", holder_key=keys["holder"], sign_alg="ES256")
    assert our_verify(keys, holder.sd_jwt_presentation, ok=False)["error"] == "audience_mismatch"


def test_thumbprint_matches_jwcrypto(keys):
    jwk = keys["holder"]
    ours = tool("thumbprint", {"jwk": public(jwk)})["thumbprint"]
    assert ours == jwk.thumbprint()


# ---- Node peer (@sd-jwt/sd-jwt-vc 0.19.0), when bench/sdjwt-peers is installed ----

NODE_PEER = REPO / "bench" / "sdjwt-peers" / "node_modules" / "@sd-jwt" / "sd-jwt-vc"
needs_node = pytest.mark.skipif(
    not NODE_PEER.exists(), reason="Node peer not installed: (cd bench/sdjwt-peers && npm ci)"
)


def node(payload: dict) -> dict:
    proc = subprocess.run(
        ["node", str(REPO / "tests" / "interop" / "sdjwt_node.mjs")],
        input=json.dumps(payload), capture_output=True, text=True, timeout=60,
    )
    out = json.loads(proc.stdout)
    assert proc.returncode == 0, f"node peer refused: {out} {proc.stderr}"
    return out


@needs_node
def test_node_peer_verifies_our_presentations(keys):
    # No status reference: the Node peer would try to fetch the status list.
    sd_jwt = our_issue(keys, status=False)
    presentation = our_present(keys, sd_jwt, ["/given_name", "/address/locality", "/nationalities/0"])
    theirs = node({"cmd": "verify", "presentation": presentation,
                   "issuer_public_jwk": public(keys["issuer"]), "nonce": NONCE})["payload"]
    ours = our_verify(keys, presentation)["claims"]
    assert {k: theirs[k] for k in ("given_name", "address", "nationalities")} == \
        {k: ours[k] for k in ("given_name", "address", "nationalities")}
    assert theirs["address"] == {"locality": "Utrecht"}
    assert "family_name" not in theirs


@needs_node
def test_we_verify_node_peer_presentations(keys):
    claims = citizen_claims()
    now = int(time.time())
    frame = {"_sd": list(claims), "address": {"_sd": list(claims["address"])}, "nationalities": {"_sd": [0]}}
    presentation = node({
        "cmd": "issue_present",
        "issuer_private_jwk": private(keys["issuer"]), "issuer_public_jwk": public(keys["issuer"]),
        "holder_private_jwk": private(keys["holder"]), "holder_public_jwk": public(keys["holder"]),
        "payload": {"iss": ISS, "vct": VCT, "iat": now - 60, "exp": now + 3600, **claims},
        "frame": frame, "present_frame": {"bsn": True, "address": {"postal_code": True}},
        "nonce": NONCE, "aud": AUD,
    })["presentation"]
    ours = our_verify(keys, presentation)
    assert ours["key_bound"] is True
    assert ours["claims"]["bsn"] == claims["bsn"]
    assert ours["claims"]["address"] == {"postal_code": claims["address"]["postal_code"]}
    assert "given_name" not in ours["claims"]
