//! The counsellor's benchmark (issue 13): one helper refreshing 50 clients' mandates at the six
//! fixture holders on loopback (`Wallet::helper_overview(Clients::All, refresh)`), in one
//! process: wall time, requests per client at the holders, and the CPU time the refresh took
//! in the wallet and in the fixture servers (holders, registry, scheme: a runtime and threads
//! of their own), from /proc.
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

/// CPU seconds (user + system) of this process's threads: all of them, and those named
/// `fixtures`.
fn cpu_secs() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let of = |stat: &str| -> f64 {
        // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (n(11) + n(12)) / ticks
    };
    let all = std::fs::read_to_string("/proc/self/stat")
        .map(|s| of(&s))
        .unwrap_or(0.0);
    let mut fixtures = 0.0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "fixtures" {
            fixtures += std::fs::read_to_string(task.path().join("stat"))
                .map(|s| of(&s))
                .unwrap_or(0.0);
        }
    }
    (all, fixtures)
}

/// Seconds this process's threads have waited, runnable, for a CPU (the machine's other load).
fn runqueue_secs() -> f64 {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

fn main() {
    let clients: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    // The fixture servers on a runtime (and threads) of their own, to tell their CPU time from
    // the wallet's.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fixtures")
        .enable_all()
        .build()
        .unwrap();
    let net = servers
        .block_on(Network::start(None, HolderOptions::for_holder))
        .unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wallet")
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(clients, &net));
}

async fn run(clients: usize, net: &Network) {
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

    let before = requests(net);
    let (cpu_before, fixtures_before) = cpu_secs();
    let waited_before = runqueue_secs();
    let t = Instant::now();
    let h = helper
        .helper_overview(Clients::All, "nl", true, options.clone())
        .await
        .unwrap();
    let refresh = t.elapsed();
    let (cpu_after, fixtures_after) = cpu_secs();
    let waited = runqueue_secs() - waited_before;
    let holder_requests = requests(net) - before;
    let fixtures_cpu = fixtures_after - fixtures_before;
    let wallet_cpu = (cpu_after - cpu_before) - fixtures_cpu;
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
         {:.1} holder requests per client; CPU in the refresh: wallet {:.2} s, fixture \
         servers {:.2} s; waiting for a CPU {:.2} s (all threads); overview alone {:.0} ms",
        net.holders.len(),
        refresh.as_secs_f64(),
        refresh.as_secs_f64() * 1000.0 / clients as f64,
        holder_requests as f64 / clients as f64,
        wallet_cpu,
        fixtures_cpu,
        waited,
        view.as_secs_f64() * 1000.0
    );
}
