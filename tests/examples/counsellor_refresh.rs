//! The counsellor's benchmark (issue 13): one helper refreshing 50 clients' mandates at the six
//! fixture holders on loopback (`Wallet::helper_overview(Clients::All, refresh)`), in one
//! process: wall time, and requests per client at the holders.
//! `cargo run --release -p kluis-tests --example counsellor_refresh [-- CLIENTS]`
//!
//! Every client here is the fixture citizen `daan` under a mandate of its own (the fixtures have
//! one citizen with data at all six holders); each mandate is exchanged and collected for apart.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kluis_core::delegation::{Action, Clients, DelegateRequest};
use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::{now_unix, Pin, SoftwareDeviceSecretStore, Wallet};
use kluis_fixtures::servers::{HolderOptions, Network};

const TYPES: &[&str] = &[
    "urn:nl:gemeente:brp-address:1",
    "urn:nl:duo:student-debt:1",
    "urn:nl:cak:care-arrears:1",
    "urn:nl:gemeente:municipal-debts:1",
    "urn:nl:belastingdienst:income-assessment:1",
    "urn:nl:uwv:income-statement:1",
];

fn wallet(dir: &std::path::Path) -> Wallet {
    Wallet::create(
        dir,
        &Pin::new(kluis_tests::PIN),
        kluis_tests::test_options(),
        Arc::new(SoftwareDeviceSecretStore::new(dir)),
    )
    .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clients: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let net = Network::start(None, HolderOptions::for_holder)
        .await
        .unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (citizen, helper) = (wallet(d1.path()), wallet(d2.path()));
    let http = kluis_tests::loopback_http(Duration::from_secs(10), 2);
    let key = net.scheme.public_jwk().unwrap().to_value().to_string();
    for w in [&citizen, &helper] {
        w.set_scheme(&net.scheme.list_uri(), &key, HttpPolicy::default())
            .await
            .unwrap();
    }
    for offer in net.offers_for("daan") {
        let s = citizen
            .preview_offer(&offer.offer_uri, CollectOptions::default())
            .await
            .unwrap();
        citizen.accept_offer(s, Some(&offer.tx_code)).await.unwrap();
    }
    for i in 0..clients {
        let req = DelegateRequest {
            helper_jwk: helper.holder_public_jwk().unwrap(),
            types: TYPES.iter().map(|t| t.to_string()).collect(),
            claims: None,
            actions: vec![Action::View, Action::Refresh],
            not_before: None,
            until: now_unix() + 30 * 86_400,
            parties: None,
            purposes: None,
            label: format!("client {i}"),
            registry: net.mandate_registry.base_url().to_string(),
        };
        let out = citizen.delegate(&req, http.clone()).await.unwrap();
        helper
            .accept_mandate(&out.package, http.clone())
            .await
            .unwrap();
    }
    let options = CollectOptions {
        copies: 1,
        http: http.clone(),
        ..CollectOptions::default()
    };
    let requests = |net: &Network| net.holders.iter().map(|h| h.request_count()).sum::<u64>();

    let before = requests(&net);
    let t = Instant::now();
    let h = helper
        .helper_overview(Clients::All, "nl", true, options.clone())
        .await
        .unwrap();
    let refresh = t.elapsed();
    let holder_requests = requests(&net) - before;
    assert_eq!(h.clients.len(), clients);
    assert!(h.clients.iter().all(|c| c.refresh_failures.is_empty()));

    let t = Instant::now();
    let again = helper
        .helper_overview(Clients::All, "nl", false, options)
        .await
        .unwrap();
    let view = t.elapsed();
    assert_eq!(again.clients.len(), clients);
    println!(
        "{clients} clients x {} holders: refresh + overview {:.2} s ({:.1} ms per client), \
         {:.1} holder requests per client; overview alone {:.0} ms",
        net.holders.len(),
        refresh.as_secs_f64(),
        refresh.as_secs_f64() * 1000.0 / clients as f64,
        holder_requests as f64 / clients as f64,
        view.as_secs_f64() * 1000.0
    );
}
