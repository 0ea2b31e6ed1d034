//! Collecting over **https** on loopback: a simulated holder serving TLS with a certificate from
//! a test CA made in this run (docs/BINDINGS.md "HTTPS on the phones"). The wallet collects when
//! that CA is among its trusted roots — added to the platform's (`TlsRoots::platform_and`, a test
//! or organisation CA) or as the only roots (`TlsRoots::only`, what an Android app hands over
//! from the platform's trust store) — and refuses with `Error::Tls`, storing nothing and sending
//! the holder nothing, when the certificate chains to another CA, is expired, or names another
//! host. Unusable roots from the app are a typed input error.
#![allow(clippy::unwrap_used)]

use kluis_core::http::TlsRoots;
use kluis_core::issuance::CollectOptions;
use kluis_core::{Error, Wallet};
use kluis_fixtures::servers::{HolderOptions, HolderServer, SchemeServer};
use kluis_fixtures::tls::{ServerIdentity, TestCa, Validity};
use kluis_tests::collecting::*;

/// One https holder (DUO) with `identity`, and the scheme (plain http on loopback) listing it.
async fn https_holder(identity: ServerIdentity) -> (HolderServer, SchemeServer) {
    let holder = kluis_fixtures::holder("duo").unwrap();
    let server = HolderServer::start(
        holder,
        0,
        HolderOptions {
            tls: Some(identity),
            ..HolderOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    let scheme = SchemeServer::start(0, std::slice::from_ref(&server))
        .await
        .unwrap();
    (server, scheme)
}

async fn wallet_for(scheme: &SchemeServer) -> (tempfile::TempDir, Wallet) {
    let (dir, wallet) = new_wallet();
    kluis_tests::pin_scheme(&wallet, scheme, quick_http()).await;
    (dir, wallet)
}

fn trusting(tls: TlsRoots) -> CollectOptions {
    let mut o = options();
    o.http.tls = tls;
    o
}

/// Collects the holder's offer with `opts`: the number of credentials stored, or the error.
async fn collect(
    wallet: &Wallet,
    server: &HolderServer,
    opts: CollectOptions,
) -> Result<usize, Error> {
    let offer = server.offer(CITIZEN).unwrap();
    let session = wallet.preview_offer(&offer.offer_uri, opts).await?;
    let outcome = wallet.accept_offer(session, Some(&offer.tx_code)).await?;
    Ok(outcome.stored.len())
}

/// The refusal every bad certificate must end in: `Error::Tls`, nothing stored or logged, and
/// not one HTTP request reached the holder.
async fn assert_refused(server: &HolderServer, scheme: &SchemeServer, tls: TlsRoots) -> String {
    let (_dir, wallet) = wallet_for(scheme).await;
    let before = wallet.audit_log().unwrap().len();
    let err = collect(&wallet, server, trusting(tls)).await.unwrap_err();
    let Error::Tls { reason } = err else {
        panic!("expected a TLS refusal, got {err:?}");
    };
    assert!(reason.contains("127.0.0.1"), "{reason}");
    assert_unchanged(&wallet, before);
    assert_eq!(
        server.request_count(),
        0,
        "a request got past the TLS handshake"
    );
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collects_from_an_https_holder_whose_ca_is_trusted() {
    let ca = TestCa::new("kluis test root").unwrap();
    let (server, scheme) = https_holder(ca.issue("127.0.0.1", Validity::current()).unwrap()).await;
    let (_dir, wallet) = wallet_for(&scheme).await;
    let stored = collect(
        &wallet,
        &server,
        trusting(TlsRoots::platform_and(vec![ca.cert_der().unwrap()])),
    )
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let creds = wallet.credentials("nl").unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].issuer, server.base_url());
    assert!(server.request_count() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_roots_handed_over_count_when_the_platform_roots_are_off() {
    // What an Android app does: the platform's trust store, handed over, is the only one.
    let ca = TestCa::new("kluis test root").unwrap();
    let other = TestCa::new("another root").unwrap();
    let (server, scheme) = https_holder(ca.issue("127.0.0.1", Validity::current()).unwrap()).await;
    assert_refused(
        &server,
        &scheme,
        TlsRoots::only(vec![other.cert_der().unwrap()]),
    )
    .await;
    assert_refused(&server, &scheme, TlsRoots::only(Vec::new())).await;
    let (_dir, wallet) = wallet_for(&scheme).await;
    let roots = vec![other.cert_der().unwrap(), ca.cert_der().unwrap()];
    assert_eq!(
        collect(&wallet, &server, trusting(TlsRoots::only(roots)))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_refused() {
    let ca = TestCa::new("kluis test root").unwrap();
    let (server, scheme) = https_holder(ca.issue("127.0.0.1", Validity::current()).unwrap()).await;
    // The platform's roots alone do not know the test CA.
    let reason = assert_refused(&server, &scheme, TlsRoots::platform()).await;
    if cfg!(not(target_vendor = "apple")) {
        // OpenSSL's verdict, not its error stack (the server sends its chain up to the root).
        assert!(
            reason.ends_with("refused: self-signed certificate in certificate chain"),
            "{reason}"
        );
    }
    // Nor does trusting another CA with the same name help.
    let impostor = TestCa::new("kluis test root").unwrap();
    assert_refused(
        &server,
        &scheme,
        TlsRoots::platform_and(vec![impostor.cert_der().unwrap()]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_misnamed_certificate_is_refused_even_from_a_trusted_ca() {
    let ca = TestCa::new("kluis test root").unwrap();
    let trusted = || TlsRoots::platform_and(vec![ca.cert_der().unwrap()]);
    let (expired, scheme) = https_holder(ca.issue("127.0.0.1", Validity::expired()).unwrap()).await;
    let reason = assert_refused(&expired, &scheme, trusted()).await;
    if cfg!(not(target_vendor = "apple")) {
        assert!(reason.contains("expired"), "{reason}");
    }
    // Valid, but for another host than the one connected to.
    let (misnamed, scheme) =
        https_holder(ca.issue("holder.example", Validity::current()).unwrap()).await;
    let reason = assert_refused(&misnamed, &scheme, trusted()).await;
    if cfg!(not(target_vendor = "apple")) {
        assert!(reason.contains("mismatch"), "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roots_that_are_not_certificates_are_an_input_error() {
    let ca = TestCa::new("kluis test root").unwrap();
    let (server, scheme) = https_holder(ca.issue("127.0.0.1", Validity::current()).unwrap()).await;
    let (_dir, wallet) = wallet_for(&scheme).await;
    let before = wallet.audit_log().unwrap().len();
    let pem_not_der = ca.cert_pem().unwrap().into_bytes();
    for bad in [vec![ca.cert_der().unwrap(), pem_not_der], vec![Vec::new()]] {
        let err = collect(&wallet, &server, trusting(TlsRoots::platform_and(bad)))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { reason } if reason.contains("trusted root")),
            "{err:?}"
        );
    }
    assert_unchanged(&wallet, before);
    assert_eq!(server.request_count(), 0);
}
