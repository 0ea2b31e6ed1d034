//! Collecting through the authorization code flow (OpenID4VCI 1.0 §5–6, HAIP 1.0) from a holder
//! that offers nothing else (DUO, which in life needs a DigiD login): the wallet pushes the
//! request with PKCE, a real HTTP client logs in on the holder's real HTML form, the wallet
//! checks the redirect and finishes with DPoP. Then the attacks on the redirect and the code:
//! another `iss` (mix-up), another session's `state`, another redirect URI, a code replayed or
//! injected into another session (PKCE) — each refused with its typed error, nothing stored.
#![allow(clippy::unwrap_used)]

use kluis_core::{AuthorizationRefusal, Error, Wallet};
use kluis_fixtures::servers::{Fault, HolderOptions, HolderServer, SchemeServer, TEST_PASSWORD};
use kluis_tests::collecting::{assert_unchanged, one_holder, options, CITIZEN};
use reqwest::header::LOCATION;

const REDIRECT: &str = "http://127.0.0.1:1/cb";

async fn duo() -> (HolderServer, SchemeServer, tempfile::TempDir, Wallet) {
    one_holder(
        kluis_fixtures::holder("duo").unwrap(),
        HolderOptions {
            authorization_code: true,
            ..HolderOptions::default()
        },
    )
    .await
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

/// What a citizen does in the browser: open the login page, fill in the form, submit; returns
/// where the holder redirects the browser.
async fn log_in(url: &str, citizen: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let action = url.split("/authorize").next().unwrap().to_string() + "/authorize";
    let body = format!(
        "request_uri={}&citizen_id={citizen}&password={TEST_PASSWORD}",
        kluis_fixtures::servers::percent_encode(&hidden(&html, "request_uri"))
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
        .get(LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

async fn start(
    server: &HolderServer,
    wallet: &Wallet,
) -> kluis_core::issuance::PendingAuthorization {
    let offer = server.offer(CITIZEN).unwrap();
    let session = wallet
        .preview_offer(&offer.offer_uri, options())
        .await
        .unwrap();
    assert!(session.needs_authorization());
    assert!(session.preview.needs_login);
    wallet.start_authorization(session, REDIRECT).await.unwrap()
}

fn refusal(e: Error) -> AuthorizationRefusal {
    match e {
        Error::Authorization { refusal } => refusal,
        other => panic!("expected an authorization refusal, got {other:?}"),
    }
}

/// Replaces query parameter `name` of `url` with `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_at_the_holder_collects_with_pkce_par_and_dpop() {
    let (server, _scheme, _dir, wallet) = duo().await;
    let offer = server.offer(CITIZEN).unwrap();
    assert!(offer.tx_code.is_empty());
    // Without the login the offer cannot be accepted, and nothing is asked of the holder.
    let session = wallet
        .preview_offer(&offer.offer_uri, options())
        .await
        .unwrap();
    let e = wallet.accept_offer(session, None).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let pending = start(&server, &wallet).await;
    assert!(pending
        .authorization_url()
        .starts_with(&format!("{}/authorize?", server.base_url())));
    assert!(pending.authorization_url().contains("request_uri=urn"));
    let back = log_in(pending.authorization_url(), CITIZEN).await;
    assert!(back.starts_with(REDIRECT));
    let out = wallet.finish_authorization(pending, &back).await.unwrap();
    assert_eq!(out.stored.len(), 1);
    assert_eq!(out.stored[0].vct, "urn:nl:duo:student-debt:1");
    // Every copy the holder issued went through the DPoP-bound token, bound to its proof key.
    assert_eq!(server.archive().len(), out.stored[0].copies as usize);
    assert_eq!(wallet.credentials("nl").unwrap().len(), 1);
    // The same redirect again, in a new session: the state is not that session's.
    let again = start(&server, &wallet).await;
    let e = wallet.finish_authorization(again, &back).await.unwrap_err();
    assert_eq!(refusal(e), AuthorizationRefusal::StateMismatch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_naming_another_issuer_is_refused_as_a_mix_up() {
    let (server, _scheme, _dir, wallet) = duo().await;
    let before = wallet.audit_log().unwrap().len();
    let pending = start(&server, &wallet).await;
    let back = log_in(pending.authorization_url(), CITIZEN).await;
    let forged = with_param(&back, "iss", "https://evil.example");
    let e = wallet
        .finish_authorization(pending, &forged)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), AuthorizationRefusal::WrongIssuer);
    // And without iss at all.
    let pending = start(&server, &wallet).await;
    let back = log_in(pending.authorization_url(), CITIZEN).await;
    let mut stripped = reqwest::Url::parse(&back).unwrap();
    let kept: Vec<(String, String)> = stripped
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    stripped.query_pairs_mut().clear().extend_pairs(kept);
    let stripped = stripped.to_string();
    assert!(!stripped.contains("iss="), "{stripped}");
    let e = wallet
        .finish_authorization(pending, &stripped)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), AuthorizationRefusal::WrongIssuer);
    assert!(server.archive().is_empty());
    assert_unchanged(&wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_state_or_another_redirect_uri_is_refused() {
    let (server, _scheme, _dir, wallet) = duo().await;
    let before = wallet.audit_log().unwrap().len();
    let pending = start(&server, &wallet).await;
    let back = log_in(pending.authorization_url(), CITIZEN).await;
    let e = wallet
        .finish_authorization(pending, &with_param(&back, "state", "forged"))
        .await
        .unwrap_err();
    assert_eq!(refusal(e), AuthorizationRefusal::StateMismatch);
    let pending = start(&server, &wallet).await;
    let back = log_in(pending.authorization_url(), CITIZEN).await;
    let elsewhere = back.replacen("/cb?", "/elsewhere?", 1);
    let e = wallet
        .finish_authorization(pending, &elsewhere)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), AuthorizationRefusal::OtherRedirect);
    assert!(server.archive().is_empty());
    assert_unchanged(&wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_injected_into_another_session_fails_pkce_and_a_used_code_is_refused() {
    let (server, _scheme, _dir, wallet) = duo().await;
    let before = wallet.audit_log().unwrap().len();
    // An attacker's code (its own session, its own PKCE) injected into the victim's redirect.
    let attacker = start(&server, &wallet).await;
    let attacker_back = log_in(attacker.authorization_url(), CITIZEN).await;
    let attacker_code = reqwest::Url::parse(&attacker_back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let victim = start(&server, &wallet).await;
    let victim_back = log_in(victim.authorization_url(), CITIZEN).await;
    let injected = with_param(&victim_back, "code", &attacker_code);
    let e = wallet
        .finish_authorization(victim, &injected)
        .await
        .unwrap_err();
    assert!(
        matches!(refusal(e.clone()), AuthorizationRefusal::CodeRefused { ref reason } if reason.contains("PKCE")),
        "{e:?}"
    );
    // The attacker's code was burnt by that attempt: its own session cannot use it either.
    let e = wallet
        .finish_authorization(attacker, &attacker_back)
        .await
        .unwrap_err();
    assert!(matches!(
        refusal(e),
        AuthorizationRefusal::CodeRefused { .. }
    ));
    assert!(server.archive().is_empty());
    assert_unchanged(&wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_keeps_refusing_the_dpop_nonce_gets_one_retry_then_a_typed_refusal() {
    let (server, _scheme, _dir, wallet) = duo().await;
    let before = wallet.audit_log().unwrap().len();
    let pending = start(&server, &wallet).await;
    let back = log_in(pending.authorization_url(), CITIZEN).await;
    server.set_fault(Fault::DpopNonceAgain);
    let requests = server.request_count();
    let e = wallet
        .finish_authorization(pending, &back)
        .await
        .unwrap_err();
    assert!(matches!(
        refusal(e),
        AuthorizationRefusal::DpopRefused { .. }
    ));
    // The first proof and the one retry with the holder's nonce: no loop.
    assert_eq!(server.request_count() - requests, 2);
    assert!(server.archive().is_empty());
    assert_unchanged(&wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_without_par_is_refused_before_anything_is_sent() {
    // A pre-authorized holder's metadata has no PAR endpoint; an offer claiming the
    // authorization code grant for it is refused as not high assurance.
    let (server, _scheme, _dir, wallet) = one_holder(
        kluis_fixtures::holder("duo").unwrap(),
        HolderOptions::default(),
    )
    .await;
    let offer = serde_json::json!({
        "credential_issuer": server.base_url(),
        "credential_configuration_ids": ["student-debt"],
        "grants": { "authorization_code": {} }
    });
    let uri = format!(
        "openid-credential-offer://?credential_offer={}",
        kluis_fixtures::servers::percent_encode(&offer.to_string())
    );
    let session = wallet.preview_offer(&uri, options()).await.unwrap();
    let requests = server.request_count();
    let e = wallet
        .start_authorization(session, REDIRECT)
        .await
        .err()
        .unwrap();
    assert!(matches!(
        refusal(e),
        AuthorizationRefusal::Unsupported { .. }
    ));
    assert_eq!(server.request_count(), requests);
}

/// `kluis collect OFFER` for a login holder, as a user runs it: the `kluis-fixtures holders
/// --login-holder duo` binary serving, the login URL on stderr, the browser (a real HTTP client
/// here) logging in and following the redirect to the CLI's loopback listener, and the CLI
/// finishing the collect. Needs the `kluis` and `kluis-fixtures` binaries built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kluis_collect_prints_the_login_url_and_finishes_on_the_loopback_redirect() {
    use kluis_tests::fixtures_cli::{bin, Fixtures, KluisVault};
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(bin("kluis-fixtures"))
        .args(["holders", "--json", "--login-holder", "duo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Fixtures(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let duo: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(duo["holder"], "duo");
    assert_eq!(duo["tx_code"], "");
    let cli = KluisVault::new();
    cli.json(&["init", "--dangerous-test-kdf"]);
    cli.json(&[
        "trust",
        "scheme",
        duo["scheme"].as_str().unwrap(),
        "--key",
        duo["scheme_key_file"].as_str().unwrap(),
    ]);
    let mut collect = cli
        .command(&["--json", "collect", duo["offer_uri"].as_str().unwrap()])
        .env_remove("KLUIS_BROWSER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = collect.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("http://") {
                let _ = tx.send(line);
            }
        }
    });
    let url = tokio::task::spawn_blocking(move || rx.recv().unwrap())
        .await
        .unwrap();
    let back = log_in(&url, CITIZEN).await;
    assert!(
        back.starts_with("http://127.0.0.1:") && back.contains("/cb?"),
        "{back}"
    );
    // The browser follows the redirect to the CLI's loopback listener.
    let page = reqwest::get(&back).await.unwrap();
    assert_eq!(page.status(), 200);
    let out = tokio::task::spawn_blocking(move || collect.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["offer"]["needs_login"], true);
    assert_eq!(r["stored"][0]["vct"], "urn:nl:duo:student-debt:1");
    assert_eq!(cli.json(&["list"]).as_array().unwrap().len(), 1);
}
