"""A presentation session through the binding from Python: the bank's announced request.

`kluis-fixtures verifiers --json` (path in KLUIS_FIXTURES) runs the holders, the scheme and the
requesting parties on free loopback ports and announces each party with a fresh request link.
The Kotlin PresentTest covers accepting; this checks the session's records and enums, the
data-minimising default choice, and declining, from a second language.
"""

import asyncio
import json
import os
import subprocess
import urllib.parse
import urllib.request

import pytest

import kluis_ffi
from conftest import _root

run = asyncio.run


@pytest.fixture(scope="module")
def parties():
    binary = os.environ.get("KLUIS_FIXTURES", os.path.join(_root, "target", "debug", "kluis-fixtures"))
    proc = subprocess.Popen([binary, "verifiers", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        out = {}
        while "bank-utrecht" not in out:
            line = proc.stdout.readline()
            assert line, "kluis-fixtures exited before announcing the bank"
            p = json.loads(line)
            out[p["party"]] = p
        yield out
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_the_bank_asks_and_the_citizen_declines(wallet, parties):
    http = kluis_ffi.recommended_http_settings()
    http.allow_loopback_http = True
    bank = parties["bank-utrecht"]
    with open(bank["scheme_key_file"]) as f:
        run(wallet.set_scheme(bank["scheme"], f.read(), http))

    # The bank is an x509_hash party (docs/PRESENTING.md "Trust"): its client_id is its access
    # certificate's hash, which the link names.
    client_id = urllib.parse.parse_qs(urllib.parse.urlsplit(bank["request_uri"]).query)["client_id"][0]
    assert client_id.startswith("x509_hash:")
    session = run(wallet.start_presentation(bank["request_uri"], "en", http))
    req = session.request()
    assert req.party.client_id == client_id
    assert req.party.registered
    assert req.stated_purpose == "mortgage"
    assert req.channel == kluis_ffi.PresentationChannel.REMOTE
    assert not req.satisfiable and kluis_ffi.PresentationFlag.NOTHING_MATCHES in req.flags
    ids = [q.query_id for q in req.queries]
    assert ids == ["person", "income", "tax", "student_debt"]
    assert not next(q for q in req.queries if q.query_id == "student_debt").required
    assert session.default_choice() == kluis_ffi.PresentationChoice(queries={}, allow_outside_registration=False)

    ack = run(wallet.decline_presentation(session, http))
    assert ack.status == 200
    with urllib.request.urlopen(bank["result_url"], timeout=10) as r:
        assert json.load(r)["status"] == "declined"
    last = run(wallet.audit_log())[-1].event
    assert last == kluis_ffi.AuditEvent.PRESENTATION_DECLINED(client_id, "mortgage", kluis_ffi.PresentationChannel.REMOTE, kluis_ffi.DeclineReason.CITIZEN)


def test_an_unlisted_party_is_refused(wallet):
    with pytest.raises(kluis_ffi.KluisError.InvalidRequest):
        run(wallet.start_presentation("openid4vp://?client_id=nobody&request_uri=http%3A%2F%2F127.0.0.1%3A9%2Fr", "en",
                                      kluis_ffi.recommended_http_settings()))
