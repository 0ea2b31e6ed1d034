"""Fixtures of the Python binding tests: the generated module, fresh wallets, real credentials.

`bindings/test-foreign.sh` generates the module into target/foreign/python (with the library
beside it) and passes its path in KLUIS_PY_BINDINGS, and the sample issuer's in KLUIS_SAMPLE_ISSUER.
"""

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.abspath(os.path.join(_here, "..", "..", ".."))
sys.path.insert(0, os.environ.get("KLUIS_PY_BINDINGS", os.path.join(_root, "target", "foreign", "python")))

import kluis_ffi  # noqa: E402  (generated; see above)

PIN = "246810"


@dataclass
class Sample:
    issuer_id: str
    vct: str
    compact: str


def issue_samples(citizen, holder_jwk):
    """(issuers as [(id, jwk)], credentials) from the sample issuer, bound to `holder_jwk`."""
    tool = os.environ.get("KLUIS_SAMPLE_ISSUER", os.path.join(_root, "target", "debug", "examples", "sample_issuer"))
    out = subprocess.run([tool, citizen, holder_jwk], check=True, capture_output=True, text=True, timeout=60).stdout
    rows = [line.split("\t") for line in out.splitlines() if line]
    issuers = [(r[1], r[2]) for r in rows if r[0] == "issuer"]
    creds = [Sample(r[1], r[2], r[3]) for r in rows if r[0] == "credential"]
    assert creds, "the sample issuer issued nothing"
    return issuers, creds


@pytest.fixture
def key_store(tmp_path):
    return kluis_ffi.software_key_store(str(tmp_path / "keys"))


@pytest.fixture
def wallet_dir(tmp_path):
    return str(tmp_path / "vault")


@pytest.fixture
def wallet(wallet_dir, key_store):
    """A new, unlocked wallet with the cheap test KDF."""
    return asyncio.run(kluis_ffi.Wallet.create(wallet_dir, PIN, kluis_ffi.dangerous_test_wallet_options(), key_store))
