"""Collecting through the binding from Python, against the real simulated holders.

`kluis-fixtures holders --json` (path in KLUIS_FIXTURES) runs as a child process on free loopback
ports; the wallet pins the scheme, previews an offer, collects it with the transaction code and
shows it in the overview. The Kotlin CollectTest covers the rest of the collecting API.
"""

import asyncio
import json
import os
import subprocess

import pytest

import kluis_ffi
from conftest import _root

run = asyncio.run


@pytest.fixture(scope="module")
def holders():
    binary = os.environ.get("KLUIS_FIXTURES", os.path.join(_root, "target", "debug", "kluis-fixtures"))
    # No --port-base: the fixtures bind free ports themselves, so nothing can race for them.
    proc = subprocess.Popen([binary, "holders", "--json", "--citizen", "daan"], stdout=subprocess.PIPE, text=True)
    try:
        offers = {}
        while "rdw" not in offers:
            line = proc.stdout.readline()
            assert line, "kluis-fixtures exited before announcing the RDW offer"
            o = json.loads(line)
            offers[o["holder"]] = o
        yield offers
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_collect_two_types_from_one_holder(wallet, holders):
    http = kluis_ffi.recommended_http_settings()
    http.allow_loopback_http = True  # the simulated holders speak plain http on loopback
    settings = kluis_ffi.recommended_collect_settings()
    settings.http = http
    rdw = holders["rdw"]
    with open(rdw["scheme_key_file"]) as f:
        run(wallet.set_scheme(rdw["scheme"], f.read(), http))

    session = run(wallet.preview_offer(rdw["offer_uri"], settings))
    preview = session.preview()
    assert preview.registered_name == "Rijksdienst voor het Wegverkeer (RDW)"
    assert preview.trusted and preview.listed_in_scheme
    assert [c.vct for c in preview.credentials] == ["urn:nl:rdw:vehicles:1", "urn:nl:rdw:driving-licence:1"]

    with pytest.raises(kluis_ffi.KluisError.InvalidInput):
        run(wallet.accept_offer(session, None))  # the code is required; nothing is asked of the holder
    assert run(wallet.credentials("en")) == []

    session = run(wallet.preview_offer(rdw["offer_uri"], settings))
    outcome = run(wallet.accept_offer(session, rdw["tx_code"]))
    assert sorted(s.vct for s in outcome.stored) == sorted(c.vct for c in preview.credentials)
    overview = run(wallet.overview("en"))
    assert overview.vehicles and overview.driving_licence is not None
    assert {c.id for c in overview.credentials} == {s.id for s in outcome.stored}
