//! The wallet authenticates with a Wallet Attestation (HAIP 1.0 §4.3: draft-ietf-oauth-
//! attestation-based-client-auth at PAR and token endpoints) and sends one key attestation for
//! its batch (OpenID4VCI 1.0 Appendix D), both from the wallet provider the scheme lists, to a
//! holder that requires them (DUO, authorization code flow). Real loopback HTTP, real crypto;
//! the platform key attestation is simulated in software (`PlatformCa`).
//!
//! Not trackable: each issuance gets a fresh instance key and attestation; every attestation
//! carries the one `client_id` all kluis wallets share. Refusals are typed and store nothing.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kluis_core::sdjwt::{PublicJwk, SigningKey};
use kluis_core::{
    AuthorizationRefusal, Error, HolderKeyError, HolderKeyStore, KeyLocation, NewHolderKey, Wallet,
};
use kluis_fixtures::servers::{
    HolderOptions, HolderServer, PlatformCa, SchemeServer, WalletProviderOptions,
    WalletProviderServer, PLATFORM_KEY_LEVEL, WALLET_CLIENT_ID,
};
use kluis_tests::collecting::{assert_unchanged, options, quick_http, CITIZEN};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:1/cb";

/// What a citizen does in the browser at a holder's login page: open it, fill in the form as
/// `citizen` with the test password, submit; returns where the holder redirects the browser.
async fn log_in(url: &str, citizen: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let marker = "name=\"request_uri\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let end = start + html[start..].find('"').unwrap();
    let request_uri = html[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"");
    let action = url.split("/authorize").next().unwrap().to_string() + "/authorize";
    let body = format!(
        "request_uri={}&citizen_id={citizen}&password={}",
        kluis_fixtures::servers::percent_encode(&request_uri),
        kluis_fixtures::servers::TEST_PASSWORD
    );
    let r = http
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    r.headers()
        .get(reqwest::header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

struct Setup {
    holder: HolderServer,
    _scheme: SchemeServer,
    provider: WalletProviderServer,
    _dir: tempfile::TempDir,
    wallet: Wallet,
}

/// DUO requiring attestation (trusting `trusted`, or else the provider), a scheme listing both
/// (the provider only if `list_provider`), a wallet (with `store`, if given) that pinned it.
async fn setup(
    key_levels: Option<Vec<String>>,
    provider_options: WalletProviderOptions,
    list_provider: bool,
    trusted: Option<Vec<u8>>,
    store: Option<Arc<dyn HolderKeyStore>>,
) -> Setup {
    let provider = WalletProviderServer::start(0, provider_options)
        .await
        .unwrap();
    let holder = HolderServer::start(
        kluis_fixtures::holder("duo").unwrap(),
        0,
        HolderOptions {
            authorization_code: true,
            trusted_wallet_providers: vec![trusted.unwrap_or_else(|| provider.certificate_der())],
            key_attestations_required: key_levels,
            ..HolderOptions::default()
        },
    )
    .await
    .unwrap();
    let scheme = SchemeServer::start(0, std::slice::from_ref(&holder))
        .await
        .unwrap();
    if list_provider {
        scheme
            .list_wallet_provider(provider.base_url(), &provider.certificate_der())
            .unwrap();
    }
    let (dir, wallet) = kluis_tests::new_wallet();
    let wallet = match store {
        Some(s) => wallet.with_holder_key_store(s),
        None => wallet,
    };
    kluis_tests::pin_scheme(&wallet, &scheme, quick_http()).await;
    Setup {
        holder,
        _scheme: scheme,
        provider,
        _dir: dir,
        wallet,
    }
}

async fn start(s: &Setup) -> Result<kluis_core::issuance::PendingAuthorization, Error> {
    let offer = s.holder.offer(CITIZEN).unwrap();
    let session = s
        .wallet
        .preview_offer(&offer.offer_uri, options())
        .await
        .unwrap();
    s.wallet.start_authorization(session, REDIRECT).await
}

async fn collect(s: &Setup) -> Result<kluis_core::issuance::CollectOutcome, Error> {
    let pending = start(s).await?;
    let back = log_in(pending.authorization_url(), CITIZEN).await;
    s.wallet.finish_authorization(pending, &back).await
}

fn attestations<'a>(issued: &'a [Value], kind: &str) -> Vec<&'a Value> {
    issued
        .iter()
        .filter(|c| match kind {
            "wallet" => c.get("cnf").is_some(),
            _ => c.get("attested_keys").is_some(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_collects_with_a_fresh_wallet_attestation_and_one_key_attestation_per_batch() {
    let s = setup(
        Some(Vec::new()),
        WalletProviderOptions::default(),
        true,
        None,
        None,
    )
    .await;
    let out = collect(&s).await.unwrap();
    assert_eq!(out.stored.len(), 1);
    let copies = out.stored[0].copies as usize;
    assert!(copies > 1, "a batch of several copies");
    // Every copy went through: one credential per attested key.
    assert_eq!(s.holder.archive().len(), copies);
    let issued = s.provider.issued();
    let wallet = attestations(&issued, "wallet");
    assert_eq!(wallet.len(), 1);
    assert_eq!(wallet[0]["sub"], WALLET_CLIENT_ID);
    let ttl = wallet[0]["exp"].as_i64().unwrap() - wallet[0]["iat"].as_i64().unwrap();
    assert!(ttl <= 600, "short-lived: {ttl} s");
    let keys = attestations(&issued, "key");
    assert_eq!(keys.len(), 1, "one key attestation for the whole batch");
    let attested = keys[0]["attested_keys"].as_array().unwrap();
    assert_eq!(attested.len(), copies);
    // The credentials are bound to exactly the attested keys, and the instance key is none of
    // them (it links nothing the citizen later shows).
    let mut bound: Vec<String> = s
        .holder
        .archive()
        .iter()
        .map(|e| e.holder_key_thumbprint.clone())
        .collect();
    let mut expected: Vec<String> = attested
        .iter()
        .map(|k| PublicJwk::from_value(k).unwrap().thumbprint())
        .collect();
    bound.sort();
    expected.sort();
    assert_eq!(bound, expected);
    let instance = PublicJwk::from_value(&wallet[0]["cnf"]["jwk"])
        .unwrap()
        .thumbprint();
    assert!(!expected.contains(&instance));
    // A second issuance: a new instance key, nothing in common with the first but the shared
    // client_id.
    let _second = start(&s).await.unwrap();
    let issued = s.provider.issued();
    let wallet = attestations(&issued, "wallet");
    assert_eq!(wallet.len(), 2);
    assert_ne!(wallet[0]["cnf"], wallet[1]["cnf"]);
    assert_eq!(wallet[0]["sub"], wallet[1]["sub"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_wallet_provider_in_the_scheme_nothing_is_pushed_to_the_holder() {
    let s = setup(None, WalletProviderOptions::default(), false, None, None).await;
    let before = s.wallet.audit_log().unwrap().len();
    let offer = s.holder.offer(CITIZEN).unwrap();
    let session = s
        .wallet
        .preview_offer(&offer.offer_uri, options())
        .await
        .unwrap();
    let asked = s.holder.request_count();
    let e = s
        .wallet
        .start_authorization(session, REDIRECT)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            &e,
            Error::Authorization {
                refusal: AuthorizationRefusal::ClientAttestationRefused { reason }
            } if reason.contains("no wallet provider")
        ),
        "{e:?}"
    );
    // After the preview's metadata, nothing more was asked of the holder: no PAR.
    assert_eq!(s.holder.request_count(), asked);
    assert!(s.provider.issued().is_empty());
    assert_unchanged(&s.wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_does_not_trust_the_provider_refuses_and_nothing_is_stored() {
    let stranger = WalletProviderServer::start(0, WalletProviderOptions::default())
        .await
        .unwrap();
    let s = setup(
        None,
        WalletProviderOptions::default(),
        true,
        Some(stranger.certificate_der()),
        None,
    )
    .await;
    let before = s.wallet.audit_log().unwrap().len();
    let e = start(&s).await.err().unwrap();
    assert!(
        matches!(
            &e,
            Error::Authorization {
                refusal: AuthorizationRefusal::ClientAttestationRefused { reason }
            } if reason.contains("invalid_client")
        ),
        "{e:?}"
    );
    assert!(s.holder.archive().is_empty());
    assert_unchanged(&s.wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_offering_only_the_attestation_proof_type_gets_the_key_attestation_itself() {
    let provider = WalletProviderServer::start(0, WalletProviderOptions::default())
        .await
        .unwrap();
    let holder = HolderServer::start(
        kluis_fixtures::holder("duo").unwrap(),
        0,
        HolderOptions {
            authorization_code: true,
            trusted_wallet_providers: vec![provider.certificate_der()],
            key_attestations_required: Some(Vec::new()),
            attestation_proof_type_only: true,
            ..HolderOptions::default()
        },
    )
    .await
    .unwrap();
    let scheme = SchemeServer::start(0, std::slice::from_ref(&holder))
        .await
        .unwrap();
    scheme
        .list_wallet_provider(provider.base_url(), &provider.certificate_der())
        .unwrap();
    let (_dir, wallet) = kluis_tests::new_wallet();
    kluis_tests::pin_scheme(&wallet, &scheme, quick_http()).await;
    let s = Setup {
        holder,
        _scheme: scheme,
        provider,
        _dir,
        wallet,
    };
    let out = collect(&s).await.unwrap();
    let copies = out.stored[0].copies as usize;
    assert_eq!(s.holder.archive().len(), copies);
    let issued = s.provider.issued();
    let keys = attestations(&issued, "key");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["attested_keys"].as_array().unwrap().len(), copies);
    // No jwt proof was sent: the attestation was the proof.
    assert!(s.holder.received_proofs().is_empty());
}

/// A device key store whose keys the (simulated) platform attests, with the challenge given.
struct AttestingStore {
    platform: PlatformCa,
    keys: Mutex<HashMap<String, SigningKey>>,
}

impl HolderKeyStore for AttestingStore {
    fn location(&self) -> KeyLocation {
        KeyLocation::Device
    }

    fn create_key(
        &self,
        key_id: &str,
        challenge: Option<&[u8]>,
    ) -> Result<NewHolderKey, HolderKeyError> {
        let key = SigningKey::make_random().unwrap();
        let attestation = match challenge {
            Some(c) => self.platform.attest(&key.public_jwk(), c).unwrap(),
            None => Vec::new(),
        };
        let public_jwk = key.public_jwk();
        self.keys.lock().unwrap().insert(key_id.to_string(), key);
        Ok(NewHolderKey {
            public_jwk,
            handle: Default::default(),
            attestation,
        })
    }

    fn sign(&self, key_id: &str, _: &[u8], input: &[u8]) -> Result<Vec<u8>, HolderKeyError> {
        let keys = self.keys.lock().unwrap();
        let key = keys.get(key_id).ok_or(HolderKeyError::KeyGone)?;
        Ok(key.sign_es256(input).unwrap().to_vec())
    }

    fn delete_key(&self, key_id: &str, _: &[u8]) -> Result<(), HolderKeyError> {
        self.keys.lock().unwrap().remove(key_id);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_wanting_a_key_storage_level_gets_it_only_for_platform_attested_keys() {
    let platform = PlatformCa::new().unwrap();
    let root = platform.root_der().unwrap();
    let strict = || Some(vec![PLATFORM_KEY_LEVEL.to_string()]);
    let provider = || WalletProviderOptions {
        platform_roots: vec![root.clone()],
        require_platform: false,
    };
    // The software store's keys have no platform attestation: attested without a level, which
    // this holder refuses; nothing is stored.
    let s = setup(strict(), provider(), true, None, None).await;
    let before = s.wallet.audit_log().unwrap().len();
    let e = collect(&s).await.unwrap_err();
    assert!(
        matches!(&e, Error::Issuance { reason, .. } if reason.contains("key_storage")),
        "{e:?}"
    );
    assert_unchanged(&s.wallet, before);
    // A device store whose keys the platform attests with the provider's nonce.
    let store = Arc::new(AttestingStore {
        platform,
        keys: Mutex::new(HashMap::new()),
    });
    let s = setup(strict(), provider(), true, None, Some(store.clone())).await;
    let out = collect(&s).await.unwrap();
    assert_eq!(out.stored.len(), 1);
    let issued = s.provider.issued();
    let keys = attestations(&issued, "key");
    assert_eq!(
        keys[0]["key_storage"],
        serde_json::json!([PLATFORM_KEY_LEVEL])
    );
    // The instance key was deleted from the device store after the issuance; the batch keys
    // stay (the credentials are bound to them).
    assert_eq!(
        store.keys.lock().unwrap().len(),
        out.stored[0].copies as usize
    );
}
