"""The shared workload (workload.json) with the IETF reference, sd-jwt 0.10.4 (PyPI):
issue, present (5 disclosures + KB-JWT), verify. Prints one JSON line of microseconds per op."""

import json
import os
import time
from pathlib import Path

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

W = json.loads((Path(__file__).parent / "workload.json").read_text())
SECONDS = float(os.environ.get("PEER_SECONDS", "3"))

issuer_key = JWK.generate(kty="EC", crv="P-256")
holder_key = JWK.generate(kty="EC", crv="P-256")


def wrap(v):
    """Every member and element selectively disclosable, as kluis's DisclosurePolicy::all()."""
    if isinstance(v, dict):
        return {SDObj(k): wrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [SDObj(wrap(x)) for x in v]
    return v


now = int(time.time())
user_claims = {"iss": W["iss"], "vct": W["vct"], "iat": now - 60, "exp": now + 86400, **wrap(W["claims"])}
to_disclose = {p.strip("/"): True for p in W["present"]}


def issue():
    return SDJWTIssuer(user_claims, issuer_key, holder_key=holder_key, sign_alg="ES256",
                       extra_header_parameters={"typ": "dc+sd-jwt"}).sd_jwt_issuance


issued = issue()


def present():
    h = SDJWTHolder(issued)
    h.create_presentation(to_disclose, nonce=W["nonce"], aud=W["aud"], holder_key=holder_key, sign_alg="ES256")
    return h.sd_jwt_presentation


presentation = present()
assert presentation.count("~") == 6, "expected 5 disclosures + KB-JWT"


def verify():
    return SDJWTVerifier(presentation, lambda iss, header: issuer_key,
                         expected_aud=W["aud"], expected_nonce=W["nonce"]).get_verified_payload()


claims = verify()
assert claims["given_name"] == W["claims"]["given_name"] and "address" not in claims


def per_op_us(fn):
    for _ in range(20):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        fn()
        n += 1
    return (time.perf_counter() - start) * 1e6 / n


print(json.dumps({"peer": "python sd-jwt 0.10.4", "issue_us": per_op_us(issue),
                  "present_us": per_op_us(present), "verify_us": per_op_us(verify)}))
