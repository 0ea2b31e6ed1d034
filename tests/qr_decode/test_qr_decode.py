"""Every QR PNG kind the wallet shows, read by an independent decoder (zxing-cpp, PyPI) and then
verified: the offline rental QR (from the holders' rental-purpose credentials, and from the full
credentials), and the session QR, whose exchange is then carried out over the loopback relay.

The PNGs come from `cargo run -p kluis-tests --example qr_pngs` (built by ./dev test); the
checks run the real `kluis verify-qr` on the text zxing-cpp read, never on the original.
"""

import json
import pathlib
import subprocess

import pytest
import zxingcpp
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
KLUIS = ROOT / "target" / "debug" / "kluis"
EXAMPLE = ROOT / "target" / "debug" / "examples" / "qr_pngs"
LANDLORD_KEY = ROOT / "fixtures" / "data" / "keys" / "verifier-woningcorporatie-eemland.private.jwk.json"


@pytest.fixture(scope="module")
def qr_set(tmp_path_factory):
    for b in (KLUIS, EXAMPLE):
        if not b.exists():
            pytest.fail(f"{b} is not built: cargo build -p kluis-cli && cargo build -p kluis-tests --example qr_pngs")
    out = tmp_path_factory.mktemp("qr")
    proc = subprocess.Popen(
        [str(EXAMPLE), str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        manifest = json.loads((out / "manifest.json").read_text())
        yield manifest, proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def read(png):
    found = zxingcpp.read_barcodes(Image.open(png))
    assert len(found) == 1, f"{png}: {len(found)} codes"
    code = found[0]
    assert code.format == zxingcpp.BarcodeFormat.QRCode
    assert code.valid
    return code


def kluis(*args):
    return subprocess.run([str(KLUIS), *args], capture_output=True, text=True, timeout=90)


def trust_args(manifest):
    s = manifest["scheme"]
    return ["--scheme", s["list"], "--scheme-key", s["key_file"]]


def test_offline_pngs_decode_and_verify(qr_set):
    manifest, _ = qr_set
    landlord = manifest["landlord"]["client_id"]
    assert len(manifest["offline"]) == 2
    for o in manifest["offline"]:
        code = read(o["png"])
        assert code.text == o["payload"]
        assert code.ec_level == o["ec"]
        assert code.extra["Version"] == str(o["qr_version"])
        done = kluis("--json", "verify-qr", code.text, "--aud", landlord, *trust_args(manifest))
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["valid"] is True and result["kind"] == "offline"
        claims = json.dumps(result["credentials"])
        assert "Visser" in claims and "monthly_gross_income_eur" in claims
        assert '"registered_payment_arrears": false' in claims
        # What was read, cut short, is refused with the reason (exit 5).
        cut = kluis("verify-qr", code.text[:-12], "--aud", landlord, *trust_args(manifest))
        assert cut.returncode == 5, cut.stderr
    # The rental-purpose credentials meet the goal: QR version 25 or less at level M.
    small = manifest["offline"][0]
    assert small["ec"] == "M" and small["qr_version"] <= 25


def test_session_png_decodes_and_the_session_completes(qr_set):
    manifest, proc = qr_set
    s = manifest["session"]
    code = read(s["png"])
    assert code.text == s["payload"]
    assert len(code.text) <= 200 and int(code.extra["Version"]) <= 10 and code.ec_level == "M"
    ll = manifest["landlord"]
    done = kluis(
        "--json", "verify-qr", code.text,
        "--aud", ll["client_id"],
        "--key", str(LANDLORD_KEY),
        "--response-uri", ll["response_uri"],
        "--preset", "rental",
        "--wait", "30",
        *trust_args(manifest),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["valid"] is True and result["kind"] == "session"
    assert "Visser" in json.dumps(result["credentials"])
    assert proc.stdout.readline().strip() == "answered"
