//! The over-disclosure judgement of [`super::over_disclosure`] on real presentations (issued,
//! presented and verified with kluis-sdjwt, decoys in every array): indexes name signed-array
//! positions, `null` every element, and nothing beyond what was asked passes.
#![allow(clippy::unwrap_used)]

use kluis_sdjwt::{
    verify_presentation_with, ArrayPositions, ClaimPath, Credential, DisclosurePolicy, IssuerInput,
    PresentationExpectations, SdJwtError, SigningKey, VerifyOptions,
};
use serde_json::{json, Value};

use super::{over_disclosure, without_envelope};
use crate::openid4vp::dcql::{CredentialQuery, DcqlQuery};
use crate::trust::TrustList;

const NOW: i64 = 1_790_000_000;
const ISS: &str = "https://issuer.example";
const VCT: &str = "urn:example:person:1";

struct Setup {
    trust: TrustList,
    holder: SigningKey,
    cred: Credential,
}

fn setup() -> Setup {
    let issuer = SigningKey::make_random().unwrap();
    let holder = SigningKey::make_random().unwrap();
    let claims = json!({
        "given_name": "Sanne",
        "nationalities": ["NL", "DE", "BE"],
        "degrees": [
            { "type": "BSc", "university": "Utrecht" },
            { "type": "MSc", "university": "Delft" }
        ]
    });
    let input = IssuerInput {
        iss: ISS.into(),
        vct: VCT.into(),
        claims: claims.as_object().unwrap().clone(),
        holder_jwk: Some(holder.public_jwk()),
        status: None,
        iat: NOW - 100,
        exp: Some(NOW + 100_000),
        nbf: None,
        kid: None,
    };
    let compact =
        kluis_sdjwt::issue(&issuer, &input, &DisclosurePolicy::all().with_decoys(1, 3)).unwrap();
    let mut trust = TrustList::new();
    trust.add(ISS, issuer.public_jwk());
    let cred = Credential::verify_issued(&compact, &trust, NOW, &VerifyOptions::default()).unwrap();
    Setup {
        trust,
        holder,
        cred,
    }
}

impl Setup {
    /// What a verifier receives when the holder discloses `paths`.
    fn received(&self, paths: &[&str]) -> (Value, ArrayPositions) {
        let paths: Vec<ClaimPath> = paths.iter().map(|p| ClaimPath::parse(p).unwrap()).collect();
        let p = self
            .cred
            .present(&paths, &self.holder, "n", "party", NOW)
            .unwrap();
        let expect = PresentationExpectations::new("n", "party", NOW + 1);
        let (v, kb) =
            verify_presentation_with::<SdJwtError, _>(&p, &self.trust, &expect, |cnf, _| {
                Ok(cnf.clone())
            })
            .unwrap();
        (without_envelope(&v.claims), kb.positions)
    }

    /// `Ok(None)`: accepted; `Ok(Some(path))`: `path` was not asked; `Err`: not an answer.
    fn judge(&self, claims: Value, disclosed: &[&str]) -> Result<Option<String>, String> {
        let (received, positions) = self.received(disclosed);
        over_disclosure(&query(claims), VCT, &received, &positions)
            .map(|o| o.map(|p| p.to_string()))
            .map_err(|e| e.to_string())
    }
}

fn query(claims: Value) -> CredentialQuery {
    let q = DcqlQuery::parse(&json!({ "credentials": [{
        "id": "q", "format": "dc+sd-jwt", "meta": { "vct_values": [VCT] }, "claims": claims
    }]}))
    .unwrap();
    q.credentials.into_iter().next().unwrap()
}

#[test]
fn an_index_is_answered_by_that_element_and_no_other() {
    let s = setup();
    let first = json!([{ "path": ["nationalities", 0] }]);
    assert_eq!(s.judge(first.clone(), &["/nationalities/0"]), Ok(None));
    // The second element alone arrives at presented index 0: it is not element 0.
    assert!(s
        .judge(first.clone(), &["/nationalities/1"])
        .unwrap_err()
        .contains("does not satisfy"));
    // Element 0 and, unasked, element 2.
    assert_eq!(
        s.judge(first, &["/nationalities/0", "/nationalities/2"]),
        Ok(Some("/nationalities/1".into()))
    );
    let third = json!([{ "path": ["nationalities", 2] }]);
    assert_eq!(s.judge(third, &["/nationalities/2"]), Ok(None));
}

#[test]
fn an_index_out_of_range_is_never_answered() {
    let s = setup();
    let q = json!([{ "path": ["nationalities", 3] }]);
    assert!(s.judge(q.clone(), &["/nationalities/2"]).is_err());
    assert!(s.judge(q, &["/nationalities"]).is_err());
}

#[test]
fn null_selects_every_element_and_values_filter_them() {
    let s = setup();
    let all = json!([{ "path": ["nationalities", null] }]);
    assert_eq!(s.judge(all.clone(), &["/nationalities"]), Ok(None));
    assert_eq!(
        s.judge(all, &["/nationalities/0", "/nationalities/2"]),
        Ok(None)
    );
    let dutch = json!([{ "path": ["nationalities", null], "values": ["NL"] }]);
    assert_eq!(s.judge(dutch.clone(), &["/nationalities/0"]), Ok(None));
    assert!(s.judge(dutch.clone(), &["/nationalities/1"]).is_err());
    assert_eq!(
        s.judge(dutch, &["/nationalities/0", "/nationalities/1"]),
        Ok(Some("/nationalities/1".into()))
    );
}

#[test]
fn nested_arrays_are_judged_at_every_level() {
    let s = setup();
    let types = json!([{ "path": ["degrees", null, "type"] }]);
    assert_eq!(
        s.judge(types.clone(), &["/degrees/0/type", "/degrees/1/type"]),
        Ok(None)
    );
    assert_eq!(
        s.judge(types, &["/degrees/1/type", "/degrees/1/university"]),
        Ok(Some("/degrees/0/university".into()))
    );
    let second = json!([{ "path": ["degrees", 1, "type"] }]);
    assert_eq!(s.judge(second.clone(), &["/degrees/1/type"]), Ok(None));
    assert!(s.judge(second, &["/degrees/0/type"]).is_err());
}

#[test]
fn an_element_of_a_claim_not_asked_is_named() {
    let s = setup();
    let name = json!([{ "path": ["given_name"] }]);
    assert_eq!(
        s.judge(name, &["/given_name", "/nationalities/1"]),
        Ok(Some("/nationalities/0".into()))
    );
}
