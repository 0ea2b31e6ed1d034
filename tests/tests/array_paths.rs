//! DCQL claims path pointers into arrays (OpenID4VP 1.0 §7), end to end: the party asks for one
//! element by index, or every element with `null`; the real wallet answers; the fixture party
//! verifies; what the party received is what the wallet logged. (The hostile cases, an element
//! not asked, one arriving at another element's index, out of range, nested arrays, are unit
//! tests of the verifier's judgement: core/verifier/src/openid4vp/verifier_tests.rs.)
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use kluis_core::audit::AuditEvent;
use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::{PresentationChoice, QueryChoice};
use kluis_core::sdjwt::ENVELOPE_CLAIMS;
use kluis_core::Wallet;
use kluis_fixtures::servers::{HolderOptions, Network, LANDLORD};
use serde_json::{json, Value};

/// Holds a BRP credential with two nationalities.
const CITIZEN: &str = "mohamed";
const BRP: &str = "urn:nl:gemeente:brp-address:1";

fn http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 1)
}

fn leaves(v: &Value, at: String, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                if at.is_empty() && ENVELOPE_CLAIMS.contains(&k.as_str()) {
                    continue;
                }
                leaves(c, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, c) in a.iter().enumerate() {
                leaves(c, format!("{at}/{i}"), out);
            }
        }
        _ => {
            out.insert(at);
        }
    }
}

fn last_disclosed(wallet: &Wallet) -> Vec<String> {
    wallet
        .audit_log()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            AuditEvent::Disclosed { claims, .. } => Some(claims),
            _ => None,
        })
        .next_back()
        .unwrap()
}

/// Asks `path` of the BRP credential, answers with every claim the wallet offers, and returns
/// what the party received (the query's credential) and what the wallet logged.
async fn ask(net: &Network, wallet: &Wallet, path: Value) -> (Value, Vec<String>) {
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    landlord.set_dcql(Some(
        json!({ "credentials": [ { "id": "p", "format": "dc+sd-jwt",
        "meta": { "vct_values": [BRP] },
        "claims": [ { "path": ["family_name"] }, { "path": path } ] } ] }),
    ));
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    assert!(req.satisfiable);
    let c = &req.queries[0].candidates[0];
    let choice = PresentationChoice {
        queries: [(
            "p".to_string(),
            QueryChoice {
                credential_ids: vec![c.credential_id.clone()],
                claims: c.claims.clone(),
            },
        )]
        .into(),
        // Nationalities are outside the landlord's registration: allowed by hand here.
        allow_outside_registration: true,
    };
    wallet
        .accept_presentation_with(&req, &choice, http())
        .await
        .unwrap();
    let r = landlord.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    let got = r.claims.unwrap()["p"][0]["claims"].clone();
    let logged = last_disclosed(wallet);
    let mut received = BTreeSet::new();
    leaves(&got, String::new(), &mut received);
    assert_eq!(
        received,
        logged.iter().cloned().collect::<BTreeSet<_>>(),
        "the party received other claims than the log records"
    );
    (got, logged)
}

#[tokio::test]
async fn an_index_and_a_null_wildcard_are_answered_and_verified() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_d, wallet) = kluis_tests::collected_wallet(&net, CITIZEN, http()).await;

    // The second nationality only: the party sees one element, and it is that one.
    let (got, logged) = ask(&net, &wallet, json!(["nationalities", 1])).await;
    assert_eq!(got["nationalities"], json!(["MA"]));
    assert_eq!(logged, ["/family_name", "/nationalities/0"]);

    let (got, _) = ask(&net, &wallet, json!(["nationalities", 0])).await;
    assert_eq!(got["nationalities"], json!(["NL"]));

    // Every element.
    let (got, logged) = ask(&net, &wallet, json!(["nationalities", null])).await;
    assert_eq!(got["nationalities"], json!(["NL", "MA"]));
    assert_eq!(
        logged,
        ["/family_name", "/nationalities/0", "/nationalities/1"]
    );
}
