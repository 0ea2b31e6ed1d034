"""The binding's plumbing from Python: the same API the apps use, a second foreign language.

The logic is tested in Rust; these tests check that calls, records, enums, errors with their
fields, async methods and the foreign key-store trait cross the FFI intact.
"""

import asyncio
import secrets

import pytest

import kluis_ffi
from conftest import PIN, issue_samples

run = asyncio.run


def test_create_then_wrong_pin_carries_attempts_left(wallet, wallet_dir):
    assert wallet.is_unlocked()
    assert kluis_ffi.wallet_exists(wallet_dir)
    wallet.lock()
    with pytest.raises(kluis_ffi.KluisError.WrongPin) as e:
        run(wallet.unlock("000000"))
    assert e.value.attempts_left == 9
    assert e.value.retry_after_secs == 0
    run(wallet.unlock(PIN))
    status = run(wallet.status())
    assert status.unlocked and status.failed_attempts == 0


def test_locked_wallet_refuses_and_missing_wallet_is_reported(wallet, key_store, tmp_path):
    wallet.lock()
    with pytest.raises(kluis_ffi.KluisError.Locked):
        run(wallet.credentials("nl"))
    with pytest.raises(kluis_ffi.KluisError.NoWallet):
        run(kluis_ffi.Wallet.open(str(tmp_path / "nothing"), key_store))


def test_import_list_show_present_and_audit(wallet):
    issuers, creds = issue_samples("mohamed", run(wallet.holder_public_jwk()))
    for issuer_id, jwk in issuers:
        run(wallet.add_trusted_issuer(issuer_id, jwk))
    imported = [run(wallet.import_credential(c.compact)) for c in creds]
    overview = run(wallet.credentials("en"))
    assert [c.vct for c in overview] == [c.vct for c in creds]
    assert all(c.binding == kluis_ffi.HolderBinding.THIS_WALLET for c in overview)

    details = run(wallet.credential(imported[0].id, "en"))
    assert details.summary == overview[0]
    path = details.claims[0].path
    presentation = run(wallet.present(imported[0].id, [path], "n-1", "https://bank.example", None))
    assert presentation.count("~") >= 2
    last = run(wallet.audit_log())[-1]
    assert last.event == kluis_ffi.AuditEvent.DISCLOSED(imported[0].id, "https://bank.example", [path], None, None, None, None)

    with pytest.raises(kluis_ffi.KluisError.AlreadyExists):
        run(wallet.import_credential(creds[0].compact))


def test_untrusted_issuer_is_named(wallet):
    _, creds = issue_samples("sanne", run(wallet.holder_public_jwk()))
    with pytest.raises(kluis_ffi.KluisError.UntrustedIssuer) as e:
        run(wallet.import_credential(creds[0].compact))
    assert e.value.issuer == creds[0].issuer_id


class DictKeyStore(kluis_ffi.DeviceKeyStore):
    """A Python implementation of the foreign key-store trait."""

    def __init__(self):
        self.secrets = {}
        self.counters = {}
        self.deleted = []

    def device_secret(self, vault_id):
        return self.secrets.setdefault(vault_id, secrets.token_bytes(32))

    def delete_device_secret(self, vault_id):
        self.deleted.append(vault_id)
        self.secrets.pop(vault_id, None)
        self.counters.pop(vault_id, None)

    def keeps_rollback_counter(self):
        return True

    def rollback_counter(self, vault_id):
        return self.counters.get(vault_id)

    def raise_rollback_counter(self, vault_id, value):
        self.counters[vault_id] = max(value, self.counters.get(vault_id, 0))


def test_python_key_store_provides_the_device_secret(wallet_dir):
    store = DictKeyStore()
    w = run(kluis_ffi.Wallet.create(wallet_dir, PIN, kluis_ffi.dangerous_test_wallet_options(), store))
    assert len(store.secrets) == 1
    (created,) = store.counters.values()  # the new vault's counter, kept by the Python store
    del w  # drop the first handle before opening the vault again
    reopened = run(kluis_ffi.Wallet.open(wallet_dir, store))
    run(reopened.unlock(PIN))
    assert reopened.is_unlocked()
    assert list(store.counters.values())[0] > created  # raised by the unlock's writes
    run(reopened.wipe())
    assert len(store.deleted) == 1 and not store.secrets and not store.counters
    assert not kluis_ffi.wallet_exists(wallet_dir)
    with pytest.raises(kluis_ffi.KluisError.Wiped):
        run(reopened.status())
