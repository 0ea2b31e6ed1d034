//! Figures for docs/DELEGATION.md: sizes and times of the delegation steps over loopback, and the
//! verifier's cost for a helper's presentation against the citizen's own.
//! `cargo run --release -p kluis-tests --example delegation_figures`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use kluis_core::delegation::{Action, DelegateRequest, DelegationContext, MandateStatusLists};
use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::trust::TrustList;
use kluis_core::verifier::{self, Expectations};
use kluis_core::{now_unix, Pin, SoftwareDeviceSecretStore, Wallet};
use kluis_fixtures::servers::{HolderOptions, Network};

const VCT: &str = "urn:nl:uwv:income-statement:1";
const AUD: &str = "woningcorporatie-eemland";
const N: usize = 200;

fn wallet(dir: &std::path::Path) -> Wallet {
    Wallet::create(
        dir,
        &Pin::new(kluis_tests::PIN),
        kluis_tests::test_options(),
        Arc::new(SoftwareDeviceSecretStore::new(dir)),
    )
    .unwrap()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let net = Network::start(None, HolderOptions::for_holder)
        .await
        .unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (citizen, helper) = (wallet(d1.path()), wallet(d2.path()));
    let key = net.scheme.public_jwk().unwrap().to_value().to_string();
    for w in [&citizen, &helper] {
        w.set_scheme(&net.scheme.list_uri(), &key, HttpPolicy::default())
            .await
            .unwrap();
    }
    let offer = net.holder("uwv").unwrap().offer("daan").unwrap();
    let s = citizen
        .preview_offer(&offer.offer_uri, CollectOptions::default())
        .await
        .unwrap();
    citizen.accept_offer(s, Some(&offer.tx_code)).await.unwrap();
    let own_id = citizen
        .credentials("nl")
        .unwrap()
        .into_iter()
        .find(|c| c.vct == VCT)
        .unwrap()
        .id;

    let req = DelegateRequest {
        helper_jwk: helper.holder_public_jwk().unwrap(),
        types: vec![VCT.into()],
        claims: Some(vec!["/monthly_gross_income_eur".into()]),
        actions: vec![Action::Present],
        not_before: None,
        until: now_unix() + 86_400,
        parties: Some(vec![AUD.into()]),
        purposes: None,
        label: "figures".into(),
        registry: net.mandate_registry.base_url().to_string(),
    };
    let t = Instant::now();
    let out = citizen.delegate(&req, HttpPolicy::default()).await.unwrap();
    let t_delegate = ms(t);
    let t = Instant::now();
    let m = helper
        .accept_mandate(&out.package, HttpPolicy::default())
        .await
        .unwrap();
    let t_accept = ms(t);
    let claims = vec!["/monthly_gross_income_eur".to_string()];
    let t = Instant::now();
    let delegated = helper
        .present_on_behalf(&m.id, VCT, &claims, "n", AUD, None, HttpPolicy::default())
        .await
        .unwrap();
    let t_present = ms(t);
    let own = citizen.present(&own_id, &claims, "n", AUD).unwrap();

    let mut trust = TrustList::new();
    for h in &net.holders {
        trust.add(h.base_url(), h.public_jwk());
    }
    let expect = Expectations::new("n", AUD);
    let t = Instant::now();
    verifier::verify_online(&delegated, &trust, &expect, None, HttpPolicy::default())
        .await
        .unwrap();
    let t_online = ms(t);
    let uris = kluis_core::delegation::verify::status_uris(&delegated);
    let lists = MandateStatusLists::fetch(&uris, HttpPolicy::default())
        .await
        .unwrap();
    let ctx = DelegationContext::new(lists, None);
    let t = Instant::now();
    for _ in 0..N {
        verifier::verify_with(&delegated, &trust, &expect, &ctx).unwrap();
    }
    let t_delegated = ms(t) / N as f64;
    let t = Instant::now();
    for _ in 0..N {
        verifier::verify(&own, &trust, &expect).unwrap();
    }
    let t_own = ms(t) / N as f64;
    let t = Instant::now();
    citizen
        .revoke_mandate(&m.id, HttpPolicy::default())
        .await
        .unwrap();
    let t_revoke = ms(t);

    println!("package (JWE, 1 credential): {} bytes", out.package.len());
    println!(
        "presentation: own {} bytes, on behalf {} bytes (+{} for the mandate in the KB-JWT)",
        own.len(),
        delegated.len(),
        delegated.len() - own.len()
    );
    println!("delegate (sign, seal, publish list): {t_delegate:.1} ms");
    println!("accept-mandate (decrypt, verify, fetch list, store): {t_accept:.1} ms");
    println!("present on behalf (status fetch + sign): {t_present:.1} ms");
    println!("revoke (sign + publish): {t_revoke:.1} ms");
    println!("verify_online (one fetch + verify): {t_online:.2} ms");
    println!(
        "verify, {N} times: own {t_own:.3} ms, on behalf (list pre-fetched) {t_delegated:.3} ms each"
    );
}
