//! The Digital Credentials API end to end (issue 16 item 6; OpenID4VP 1.0 Appendix A, HAIP 1.0
//! §5): a web page's request as the platform hands it to the wallet (protocol, `data` JSON, the
//! page's origin), answered by the real wallet (fixture holders' credentials, pinned scheme) and
//! verified by the party's library. Unsigned (the origin is the party), signed (one party,
//! `expected_origins`) and multi-signed (the wallet picks the signature it can verify);
//! `dc_api` and `dc_api.jwt`; every answer's audience is `origin:` + the origin. Attacks: a
//! request replayed from another site, a replayed nonce, a signature by someone else, another
//! response mode, an answer delivered to another origin, a plain answer to an encrypted request.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_core::audit::{AuditEvent, Channel};
use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::dc_api::{self, DcApiConfig, DcApiRequest, Protocol, Signer};
use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
use kluis_core::openid4vp::verifier::{
    sign_request, PendingRequest, ResponseOutcome, VerifierTrust,
};
use kluis_core::openid4vp::{Flag, PresentationChoice, PresentationRequest, QueryChoice};
use kluis_core::sdjwt::SigningKey;
use kluis_core::{Error, VerifierError, Wallet};
use kluis_fixtures::servers::{
    requesting_party_key, trust_from_holders, HolderOptions, Network, BANK, LANDLORD,
};
use serde_json::{json, Value};

const CITIZEN: &str = "daan";
const PAGE: &str = "https://woningen.eemland.example";
const SHOP: &str = "https://webwinkel.example";

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 1)
}

struct World {
    _net: Network,
    _dir: tempfile::TempDir,
    wallet: Wallet,
    trust: VerifierTrust,
    ctx: kluis_core::delegation::DelegationContext,
}

async fn world() -> World {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (dir, wallet) = kluis_tests::collected_wallet(&net, CITIZEN, quick_http()).await;
    let trust = trust_from_holders(&net.holders);
    let lists = kluis_core::status::StatusLists::new();
    let uris: Vec<String> = net
        .holders
        .iter()
        .map(|h| format!("{}/status", h.base_url()))
        .collect();
    lists.fetch(&uris, quick_http()).await.unwrap();
    let ctx = kluis_core::delegation::DelegationContext::default().with_credential_status(lists);
    World {
        _net: net,
        _dir: dir,
        wallet,
        trust,
        ctx,
    }
}

fn signer(client_id: &str, key: SigningKey) -> Signer {
    Signer {
        client_id: client_id.into(),
        signing_key: key,
        attestation: None,
        x5c: Vec::new(),
    }
}

fn landlord(protocol: Protocol, signers: Vec<Signer>, mode: ResponseMode) -> DcApiConfig {
    DcApiConfig {
        protocol,
        signers,
        origins: vec![PAGE.into()],
        response_mode: mode,
        purpose: Some(StatedPurpose {
            id: "rental".into(),
            retention_days: Some(30),
        }),
        lifetime_secs: 300,
    }
}

/// The landlord's names query (its registration for `rental` covers these).
fn names() -> Value {
    json!({ "credentials": [ { "id": "person", "format": "dc+sd-jwt",
        "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1"] },
        "claims": [ { "path": ["given_name"] }, { "path": ["family_name"] } ] } ] })
}

fn ask(req: &DcApiRequest) -> (&'static str, String) {
    (req.protocol.as_str(), req.data.to_string())
}

fn start(w: &World, req: &DcApiRequest, origin: &str) -> Result<PresentationRequest, Error> {
    let (protocol, data) = ask(req);
    w.wallet
        .start_dc_api_presentation(protocol, &data, origin, "nl")
}

fn verify(
    w: &World,
    data: &Value,
    origin: &str,
    pending: &PendingRequest,
) -> Result<ResponseOutcome, VerifierError> {
    dc_api::verify_response_with(
        data,
        origin,
        pending,
        &w.trust,
        kluis_core::now_unix(),
        &w.ctx,
    )
}

fn disclosures(w: &World) -> Vec<(String, Option<Channel>)> {
    w.wallet
        .audit_log()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            AuditEvent::Disclosed {
                audience, channel, ..
            } => Some((audience, channel)),
            _ => None,
        })
        .collect()
}

/// Every claim of every query asked, from the first candidate, outside the registration allowed
/// (what a citizen who agrees to everything on screen would choose).
fn everything(req: &PresentationRequest) -> PresentationChoice {
    let queries = req
        .queries
        .iter()
        .map(|q| {
            let c = &q.candidates[0];
            (
                q.query_id.clone(),
                QueryChoice {
                    credential_ids: vec![c.credential_id.clone()],
                    claims: q.claims.iter().map(|r| r.path.clone()).collect(),
                },
            )
        })
        .collect();
    PresentationChoice {
        queries,
        allow_outside_registration: true,
    }
}

fn kb_payload(presentation: &str) -> Value {
    let kb = presentation.rsplit('~').next().unwrap();
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(kb.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_signed_request_is_answered_encrypted_bound_to_the_calling_origin() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let key = requesting_party_key(LANDLORD).unwrap();
    let config = landlord(
        Protocol::Signed,
        vec![signer(LANDLORD, key)],
        ResponseMode::DcApiJwt,
    );
    let (req, pending) = dc_api::new_request(&config, &names(), now).unwrap();
    assert!(req.data["request"].is_string(), "{}", req.data);
    assert_eq!(
        req.credentials_get_options()["digital"]["requests"][0]["protocol"],
        "openid4vp-v1-signed"
    );

    let shown = start(&w, &req, PAGE).unwrap();
    assert_eq!(shown.party.client_id, LANDLORD);
    assert!(shown.party.registered);
    assert_eq!(shown.origin.as_deref(), Some(PAGE));
    assert_eq!(shown.channel, Channel::DcApi);
    assert_eq!(shown.purpose.as_ref().unwrap().id, "rental");

    // Over the DC API the answer is not posted anywhere.
    let e = w
        .wallet
        .accept_presentation(&shown, &shown.default_choice())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Digital Credentials API"), "{e}");

    let answer = w
        .wallet
        .accept_dc_api_presentation(&shown, &shown.default_choice())
        .await
        .unwrap();
    assert_eq!(answer.protocol, "openid4vp-v1-signed");
    let keys: Vec<&String> = answer.data.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec!["response"],
        "only the JWE leaves: {}",
        answer.data
    );
    let handed: Value = serde_json::from_str(&answer.to_json()).unwrap();
    assert_eq!(handed["data"], answer.data);
    assert_eq!(handed["protocol"], "openid4vp-v1-signed");

    match verify(&w, &answer.data, PAGE, &pending).unwrap() {
        ResponseOutcome::Verified { credentials } => {
            let c = &credentials["person"][0].claims;
            assert!(c.get("given_name").is_some() && c.get("family_name").is_some());
            assert!(c.get("address").is_none(), "nothing beyond the choice: {c}");
        }
        other => panic!("not verified: {other:?}"),
    }
    // Logged once per credential, with the party and the channel.
    assert_eq!(
        disclosures(&w),
        vec![(LANDLORD.to_string(), Some(Channel::DcApi))]
    );

    // The same request again (the page, or anyone who saw it, replays it): refused, logged.
    let e = start(&w, &req, PAGE).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e:?}");
    assert_eq!(
        kluis_tests::last_refusal(&w.wallet).as_deref(),
        Some("replayed_nonce")
    );
    assert_eq!(disclosures(&w).len(), 1);
}

#[tokio::test]
async fn the_answer_names_the_origin_as_audience_and_another_origin_cannot_use_it() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let other_page = "https://huren.eemland.example";
    let mut config = landlord(
        Protocol::Signed,
        vec![signer(LANDLORD, requesting_party_key(LANDLORD).unwrap())],
        ResponseMode::DcApi,
    );
    config.origins.push(other_page.into());
    let (req, pending) = dc_api::new_request(&config, &names(), now).unwrap();
    let shown = start(&w, &req, PAGE).unwrap();
    let answer = w
        .wallet
        .accept_dc_api_presentation(&shown, &shown.default_choice())
        .await
        .unwrap();
    // Plain `dc_api`: the vp_token as it is, its key-binding JWT for origin:<page>, not the
    // client id (A.4, also for a signed request); no state over the DC API.
    let p = answer.data["vp_token"]["person"][0].as_str().unwrap();
    let kb = kb_payload(p);
    assert_eq!(kb["aud"], format!("origin:{PAGE}"));
    assert_eq!(kb["nonce"], pending.nonce);
    assert!(answer.data.get("state").is_none());

    // The answer taken to the party's other page: its audience is not that page.
    let e = verify(&w, &answer.data, other_page, &pending).unwrap_err();
    assert!(e.to_string().contains("aud"), "{e}");
    // Nor to a page the request was not made for at all.
    let e = verify(&w, &answer.data, "https://evil.example", &pending).unwrap_err();
    assert!(e.to_string().contains("origin"), "{e}");
    // Where it belongs it verifies.
    assert!(matches!(
        verify(&w, &answer.data, PAGE, &pending),
        Ok(ResponseOutcome::Verified { .. })
    ));
    // The library's ordinary check refuses a DC API request's answer (its audience differs).
    let form = vec![("vp_token".to_string(), answer.data["vp_token"].to_string())];
    assert!(
        kluis_core::openid4vp::verifier::verify_response(&form, &pending, &w.trust, now).is_err()
    );
}

#[tokio::test]
async fn an_unsigned_request_shows_the_origin_as_the_party_under_the_same_consent_rules() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let mut config = DcApiConfig::unsigned(SHOP);
    config.response_mode = ResponseMode::DcApi;
    let (mut req, pending) = dc_api::new_request(&config, &names(), now).unwrap();
    // A client id and expected_origins in an unsigned request are ignored (A.2: the wallet MUST
    // ignore them): claiming to be the landlord gets the shop nothing of the landlord's.
    req.data["client_id"] = json!(LANDLORD);
    req.data["expected_origins"] = json!(["https://elsewhere.example"]);

    let shown = start(&w, &req, SHOP).unwrap();
    assert_eq!(shown.party.client_id, format!("origin:{SHOP}"));
    assert_eq!(shown.party.id, SHOP);
    assert!(!shown.party.registered && shown.party.name.is_none());
    assert!(shown.flags.contains(&Flag::Unregistered));
    assert_eq!(shown.origin.as_deref(), Some(SHOP));

    // No registration: nothing is chosen by default, and nothing leaves unless the citizen
    // allows it explicitly.
    assert!(shown.default_choice().queries.is_empty());
    let mut choice = everything(&shown);
    choice.allow_outside_registration = false;
    let e = w
        .wallet
        .accept_dc_api_presentation(&shown, &choice)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("outside the party's registration"),
        "{e}"
    );
    assert!(disclosures(&w).is_empty());

    let answer = w
        .wallet
        .accept_dc_api_presentation(&shown, &everything(&shown))
        .await
        .unwrap();
    assert_eq!(answer.protocol, "openid4vp-v1-unsigned");
    let kb = kb_payload(answer.data["vp_token"]["person"][0].as_str().unwrap());
    assert_eq!(kb["aud"], format!("origin:{SHOP}"));
    assert!(matches!(
        verify(&w, &answer.data, SHOP, &pending),
        Ok(ResponseOutcome::Verified { .. })
    ));
    assert_eq!(
        disclosures(&w),
        vec![(format!("origin:{SHOP}"), Some(Channel::DcApi))]
    );
}

#[tokio::test]
async fn a_multi_signed_request_is_answered_for_the_signature_the_wallet_can_verify() {
    let w = world().await;
    let now = kluis_core::now_unix();
    // A party in another trust framework (a prefix this wallet does not take) signs first.
    let stranger = signer(
        "x509_san_dns:rp.example.org",
        SigningKey::make_random().unwrap(),
    );
    let config = landlord(
        Protocol::MultiSigned,
        vec![
            stranger,
            signer(LANDLORD, requesting_party_key(LANDLORD).unwrap()),
        ],
        ResponseMode::DcApiJwt,
    );
    let (req, pending) = dc_api::new_request(&config, &names(), now).unwrap();
    assert_eq!(req.data["signatures"].as_array().unwrap().len(), 2);
    let shown = start(&w, &req, PAGE).unwrap();
    assert_eq!(shown.party.client_id, LANDLORD);
    assert!(shown.party.registered);
    let answer = w
        .wallet
        .accept_dc_api_presentation(&shown, &shown.default_choice())
        .await
        .unwrap();
    assert_eq!(answer.protocol, "openid4vp-v1-multisigned");
    assert!(matches!(
        verify(&w, &answer.data, PAGE, &pending),
        Ok(ResponseOutcome::Verified { .. })
    ));

    // Signed only by parties it cannot verify (the landlord's name, someone else's key).
    let forged = landlord(
        Protocol::MultiSigned,
        vec![
            signer(
                "x509_san_dns:rp.example.org",
                SigningKey::make_random().unwrap(),
            ),
            signer(LANDLORD, SigningKey::make_random().unwrap()),
        ],
        ResponseMode::DcApiJwt,
    );
    let (req, _) = dc_api::new_request(&forged, &names(), now).unwrap();
    let e = start(&w, &req, PAGE).unwrap_err();
    assert!(
        e.to_string().contains("none of the request's 2 signatures"),
        "{e}"
    );
    assert_eq!(
        kluis_tests::last_refusal(&w.wallet).as_deref(),
        Some("bad_signature")
    );
}

#[tokio::test]
async fn bad_requests_are_refused_typed_logged_and_nothing_is_handed_back() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let key = || requesting_party_key(LANDLORD).unwrap();
    let signed = landlord(
        Protocol::Signed,
        vec![signer(LANDLORD, key())],
        ResponseMode::DcApiJwt,
    );
    let (good, pending) = dc_api::new_request(&signed, &names(), now).unwrap();
    // The request object with other claims, signed by `by`.
    let variant = |by: &SigningKey, change: &dyn Fn(&mut Value)| {
        let mut claims = pending.claims.clone();
        change(&mut claims);
        DcApiRequest {
            protocol: Protocol::Signed,
            data: json!({ "request": sign_request(by, None, &claims).unwrap() }),
        }
    };
    let bank_key = requesting_party_key(BANK).unwrap();
    let cases: Vec<(DcApiRequest, &str, &str, &str)> = vec![
        // A page the request was not made for replays it.
        (
            good.clone(),
            "https://evil.example",
            "expected_origins",
            "foreign_origin",
        ),
        // Signed by another party's key, in the landlord's name.
        (
            variant(&bank_key, &|_| {}),
            PAGE,
            "signature",
            "bad_signature",
        ),
        // No expected_origins in a signed request.
        (
            variant(&key(), &|c| {
                c.as_object_mut().unwrap().remove("expected_origins");
            }),
            PAGE,
            "origins it may come from",
            "invalid_request",
        ),
        // A response mode other than dc_api(.jwt): the answer would leave by another road.
        (
            variant(&key(), &|c| c["response_mode"] = json!("direct_post")),
            PAGE,
            "response_mode",
            "invalid_request",
        ),
        (
            variant(&key(), &|c| c["response_mode"] = json!("fragment")),
            PAGE,
            "response_mode",
            "invalid_request",
        ),
        // The request says signed, the protocol unsigned (or the other way round).
        (
            DcApiRequest {
                protocol: Protocol::Unsigned,
                data: good.data.clone(),
            },
            PAGE,
            "request object",
            "invalid_request",
        ),
        (
            DcApiRequest {
                protocol: Protocol::Signed,
                data: pending.claims.clone(),
            },
            PAGE,
            "'request'",
            "invalid_request",
        ),
    ];
    for (req, origin, needle, code) in cases {
        let before = w.wallet.audit_log().unwrap().len();
        let e = start(&w, &req, origin).unwrap_err();
        assert!(matches!(e, Error::InvalidRequest { .. }), "{needle}: {e:?}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert_eq!(
            kluis_tests::last_refusal(&w.wallet).as_deref(),
            Some(code),
            "{needle}"
        );
        assert_eq!(w.wallet.audit_log().unwrap().len(), before + 1, "{needle}");
    }
    // A protocol this wallet does not speak, and data that is not JSON.
    for (protocol, data) in [
        ("org-iso-mdoc", good.data.to_string()),
        ("openid4vp-v2-signed", good.data.to_string()),
        ("openid4vp-v1-signed", "not json".to_string()),
    ] {
        let e = w
            .wallet
            .start_dc_api_presentation(protocol, &data, PAGE, "nl")
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidRequest { .. }),
            "{protocol}: {e:?}"
        );
    }
    // A DC API response mode in a request object fetched from a link is refused too.
    let mut claims = pending.claims.clone();
    claims["response_uri"] = json!("https://landlord.example/response");
    let e = w
        .wallet
        .presentation_from_request_object(
            &sign_request(&key(), None, &claims).unwrap(),
            Some(LANDLORD),
            Channel::Remote,
            "nl",
        )
        .unwrap_err();
    assert!(e.to_string().contains("response_mode 'dc_api.jwt'"), "{e}");

    // Nothing was disclosed by any of it; the honest request is still answerable.
    assert!(disclosures(&w).is_empty());
    let shown = start(&w, &good, PAGE).unwrap();
    let answer = w
        .wallet
        .accept_dc_api_presentation(&shown, &shown.default_choice())
        .await
        .unwrap();
    // The party refuses a plain answer to its encrypted request.
    let plain = json!({ "vp_token": { "person": ["x~y~"] } });
    let e = verify(&w, &plain, PAGE, &pending).unwrap_err();
    assert!(e.to_string().contains("must be encrypted"), "{e}");
    assert!(matches!(
        verify(&w, &answer.data, PAGE, &pending),
        Ok(ResponseOutcome::Verified { .. })
    ));
}

#[tokio::test]
async fn a_decline_is_logged_and_handed_back_encrypted() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let config = landlord(
        Protocol::Signed,
        vec![signer(LANDLORD, requesting_party_key(LANDLORD).unwrap())],
        ResponseMode::DcApiJwt,
    );
    let (req, pending) = dc_api::new_request(&config, &names(), now).unwrap();
    let shown = start(&w, &req, PAGE).unwrap();
    let declined = w.wallet.decline_dc_api_presentation(&shown).await.unwrap();
    assert!(declined.data.get("response").is_some(), "{}", declined.data);
    assert!(declined.data.get("error").is_none(), "encrypted, not plain");
    match verify(&w, &declined.data, PAGE, &pending).unwrap() {
        ResponseOutcome::Declined { error } => assert_eq!(error, "access_denied"),
        other => panic!("{other:?}"),
    }
    assert!(w.wallet.audit_log().unwrap().iter().any(|e| matches!(
        e.event,
        AuditEvent::PresentationDeclined {
            channel: Channel::DcApi,
            ..
        }
    )));
    // Declined is answered: neither an answer nor a second decline follows.
    assert!(w
        .wallet
        .accept_dc_api_presentation(&shown, &shown.default_choice())
        .await
        .is_err());
    assert!(w.wallet.decline_dc_api_presentation(&shown).await.is_err());
    assert!(disclosures(&w).is_empty());
}
