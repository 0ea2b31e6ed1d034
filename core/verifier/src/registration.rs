//! Registration certificates: the scheme's signed statement that a requesting party registered a
//! purpose, how long it keeps the data, and which claims that purpose may ask (in the spirit of
//! the registration certificates of ETSI TS 119 475).
//!
//! A standard OpenID4VP 1.0 verifier carries one in its request's `verifier_info` (§5.11) as
//! `{"format": "registration_cert", "data": "<compact JWS>"}`: header `typ` `rc-wrp+jwt`, ES256,
//! signed by the pinned scheme key; payload `iss` (the scheme), `sub` (the party's client
//! identifier without prefix), `iat`, `exp`, `name` and one `purpose`. The certificate is
//! claim-bound (§5.11.1): `sub` must name the party whose client_id signed the request, so a
//! certificate lifted from another party's request is refused.

use josekit::jws::{JwsHeader, ES256};
use kluis_sdjwt::{PublicJwk, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::jws::{header as jws_header, verify as jws_verify};
use crate::scheme::{LocalizedName, RegisteredPurpose, RequestingParty};
use crate::{Error, RequestRefusal};

/// `typ` of a registration certificate JWS.
pub const REGISTRATION_CERT_TYP: &str = "rc-wrp+jwt";

/// The `verifier_info` `format` that carries a registration certificate.
pub const VERIFIER_INFO_FORMAT: &str = "registration_cert";

/// Tolerated clock difference (seconds) for `iat`/`exp`.
const SKEW_SECS: i64 = 60;

/// Largest certificate accepted (a request object is at most 64 KiB anyway).
const MAX_CERT_BYTES: usize = 16 * 1024;

/// One registered purpose of one party, as the scheme certifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationCertificate {
    /// The scheme's identifier.
    pub iss: String,
    /// The party: its client identifier without prefix.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Valid until (Unix seconds).
    pub exp: i64,
    /// The party's registered name.
    pub name: LocalizedName,
    /// The certified purpose: id, name, retention and the claims it may ask per `vct`.
    pub purpose: RegisteredPurpose,
}

impl RegistrationCertificate {
    /// The certificate for `purpose` of `party` (as the participant list names them), issued by
    /// scheme `iss` at `iat`, valid until `exp`.
    pub fn for_purpose(
        iss: &str,
        party: &RequestingParty,
        purpose: &RegisteredPurpose,
        iat: i64,
        exp: i64,
    ) -> RegistrationCertificate {
        RegistrationCertificate {
            iss: iss.to_string(),
            sub: party.client_id.clone(),
            iat,
            exp,
            name: party.name.clone(),
            purpose: purpose.clone(),
        }
    }

    /// Signs it with the scheme key: a compact ES256 JWS, `typ` `rc-wrp+jwt`, `kid` if given.
    pub fn sign(&self, scheme_key: &SigningKey, kid: Option<&str>) -> Result<String, Error> {
        let internal = |what: &str| Error::Internal {
            reason: format!("registration certificate: {what}"),
        };
        let signer = ES256
            .signer_from_der(&scheme_key.to_pkcs8_der()[..])
            .map_err(|_| internal("signing key"))?;
        let mut header = JwsHeader::new();
        header.set_token_type(REGISTRATION_CERT_TYP);
        if let Some(kid) = kid {
            header.set_key_id(kid);
        }
        let body = serde_json::to_vec(self).map_err(|_| internal("encoding"))?;
        josekit::jws::serialize_compact(&body, &header, &signer).map_err(|_| internal("signing"))
    }

    /// The `verifier_info` entry carrying the signed certificate `jws`.
    pub fn verifier_info_entry(jws: &str) -> Value {
        json!({ "format": VERIFIER_INFO_FORMAT, "data": jws })
    }
}

fn refused(code: RequestRefusal, reason: impl Into<String>) -> Error {
    Error::refused(code, reason)
}

/// Verifies a registration certificate: `typ`, ES256 signature by `scheme_key`, `iss` equal to
/// the scheme's identifier (when known), `sub` equal to `party_id` (the request's client_id
/// without prefix), issued no later than now and not expired (60 s skew, checked arithmetic:
/// the timestamps come from outside).
pub fn verify_registration_certificate(
    jws: &str,
    scheme_key: &PublicJwk,
    scheme_iss: Option<&str>,
    party_id: &str,
    now: i64,
) -> Result<RegistrationCertificate, Error> {
    let jws = jws.trim();
    if jws.len() > MAX_CERT_BYTES {
        return Err(refused(
            RequestRefusal::Oversized,
            "the registration certificate is too large",
        ));
    }
    let header = jws_header(jws).ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the registration certificate is not a JWT",
        )
    })?;
    if header.get("typ").and_then(Value::as_str) != Some(REGISTRATION_CERT_TYP) {
        return Err(refused(
            RequestRefusal::WrongTyp,
            format!("the registration certificate's typ is not {REGISTRATION_CERT_TYP}"),
        ));
    }
    let v = jws_verify(jws, std::slice::from_ref(scheme_key)).ok_or_else(|| {
        refused(
            RequestRefusal::BadSignature,
            "the registration certificate is not signed by the pinned scheme key",
        )
    })?;
    let cert: RegistrationCertificate =
        serde_json::from_value(Value::Object(v.payload)).map_err(|_| {
            refused(
                RequestRefusal::InvalidRequest,
                "the registration certificate is malformed",
            )
        })?;
    if let Some(iss) = scheme_iss {
        if cert.iss != iss {
            return Err(refused(
                RequestRefusal::InvalidRequest,
                "the registration certificate is not issued by the scheme",
            ));
        }
    }
    if cert.sub != party_id {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the registration certificate is for another party than the client_id",
        ));
    }
    if cert.exp.saturating_add(SKEW_SECS) < now {
        return Err(refused(
            RequestRefusal::Expired,
            "the registration certificate has expired",
        ));
    }
    if cert.iat > now.saturating_add(SKEW_SECS) || cert.exp < cert.iat {
        return Err(refused(RequestRefusal::InvalidRequest,
            "the registration certificate's validity is out of bounds (iat in the future or after exp)",
        ));
    }
    if cert.purpose.id.is_empty() {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the registration certificate names no purpose",
        ));
    }
    Ok(cert)
}

/// The registration certificates (compact JWS strings) in a request's `verifier_info`
/// (OpenID4VP 1.0 §5.1: a non-empty array of objects with `format` and `data`). Entries of other
/// formats are skipped (the wallet SHOULD ignore unsupported types, §5.11); a `verifier_info`
/// that is not of that shape is refused. `None` (no `verifier_info`): none.
pub fn registration_certificates(verifier_info: Option<&Value>) -> Result<Vec<&str>, Error> {
    let Some(v) = verifier_info else {
        return Ok(Vec::new());
    };
    let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "verifier_info is not a non-empty array",
        )
    })?;
    let mut out = Vec::new();
    for item in items {
        let format = item.get("format").and_then(Value::as_str).ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "a verifier_info entry has no format",
            )
        })?;
        let data = item
            .get("data")
            .filter(|d| d.is_string() || d.is_object())
            .ok_or_else(|| {
                refused(
                    RequestRefusal::InvalidRequest,
                    "a verifier_info entry has no data",
                )
            })?;
        if format == VERIFIER_INFO_FORMAT {
            let jws = data.as_str().ok_or_else(|| {
                refused(
                    RequestRefusal::InvalidRequest,
                    "a registration_cert entry's data is not a JWS",
                )
            })?;
            out.push(jws);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use super::*;

    const SCHEME: &str = "http://127.0.0.1:7006";
    const NOW: i64 = 1_790_000_000;

    fn party(id: &str) -> RequestingParty {
        RequestingParty {
            id: id.into(),
            client_id: id.into(),
            name: LocalizedName {
                nl: "Woningcorporatie Eemland".into(),
                en: "Eemland Housing Association".into(),
            },
            purposes: vec![RegisteredPurpose {
                id: "rental".into(),
                name: LocalizedName {
                    nl: "Huuraanvraag".into(),
                    en: "Rental application".into(),
                },
                retention_days: Some(30),
                claims: BTreeMap::from([(
                    "urn:nl:gemeente:brp-address:1".to_string(),
                    vec!["/given_name".to_string(), "/address".to_string()],
                )]),
            }],
            keys: Vec::new(),
            response_origins: Vec::new(),
            deletion_uri: None,
        }
    }

    fn cert(iat: i64, exp: i64) -> RegistrationCertificate {
        let p = party("woningcorporatie-eemland");
        RegistrationCertificate::for_purpose(SCHEME, &p, &p.purposes[0], iat, exp)
    }

    fn verify(jws: &str, key: &PublicJwk) -> Result<RegistrationCertificate, Error> {
        verify_registration_certificate(jws, key, Some(SCHEME), "woningcorporatie-eemland", NOW)
    }

    fn refused_with(r: Result<RegistrationCertificate, Error>, needle: &str) {
        match r {
            Err(Error::InvalidRequest { reason, .. }) => {
                assert!(reason.contains(needle), "{reason} (wanted {needle})")
            }
            other => panic!("expected a refusal ({needle}), got {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let key = SigningKey::make_random().unwrap();
        let c = cert(NOW - 10, NOW + 3600);
        let jws = c.sign(&key, Some("scheme-2026")).unwrap();
        assert_eq!(
            jws_header(&jws).unwrap()["typ"],
            json!(REGISTRATION_CERT_TYP)
        );
        let back = verify(&jws, &key.public_jwk()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.purpose.retention_days, Some(30));
        // The scheme's identifier is checked only when the wallet knows it.
        let back = verify_registration_certificate(
            &jws,
            &key.public_jwk(),
            None,
            "woningcorporatie-eemland",
            NOW,
        )
        .unwrap();
        assert_eq!(back.sub, "woningcorporatie-eemland");
    }

    #[test]
    fn wrong_key_is_refused() {
        let scheme = SigningKey::make_random().unwrap();
        let other = SigningKey::make_random().unwrap();
        let jws = cert(NOW, NOW + 3600).sign(&other, None).unwrap();
        refused_with(verify(&jws, &scheme.public_jwk()), "not signed");
    }

    #[test]
    fn other_partys_certificate_is_refused() {
        let key = SigningKey::make_random().unwrap();
        let jws = cert(NOW, NOW + 3600).sign(&key, None).unwrap();
        refused_with(
            verify_registration_certificate(
                &jws,
                &key.public_jwk(),
                Some(SCHEME),
                "bank-utrecht",
                NOW,
            ),
            "another party",
        );
        // Another scheme's identifier.
        refused_with(
            verify_registration_certificate(
                &jws,
                &key.public_jwk(),
                Some("http://127.0.0.1:9"),
                "woningcorporatie-eemland",
                NOW,
            ),
            "not issued by the scheme",
        );
    }

    #[test]
    fn expired_and_future_are_refused() {
        let key = SigningKey::make_random().unwrap();
        let expired = cert(NOW - 7200, NOW - 3600).sign(&key, None).unwrap();
        refused_with(verify(&expired, &key.public_jwk()), "expired");
        let future = cert(NOW + 3600, NOW + 7200).sign(&key, None).unwrap();
        refused_with(verify(&future, &key.public_jwk()), "out of bounds");
        let inverted = cert(NOW, NOW - 1).sign(&key, None).unwrap();
        refused_with(verify(&inverted, &key.public_jwk()), "out of bounds");
        // Hostile extremes neither overflow nor pass.
        let max = cert(i64::MIN, i64::MAX).sign(&key, None).unwrap();
        assert!(verify(&max, &key.public_jwk()).is_ok());
        let min = cert(i64::MIN, i64::MIN).sign(&key, None).unwrap();
        refused_with(verify(&min, &key.public_jwk()), "expired");
        let far = cert(i64::MAX, i64::MAX).sign(&key, None).unwrap();
        refused_with(verify(&far, &key.public_jwk()), "out of bounds");
        // A clock at the end of time: no overflow (iat = now is allowed).
        assert!(verify_registration_certificate(
            &far,
            &key.public_jwk(),
            Some(SCHEME),
            "woningcorporatie-eemland",
            i64::MAX,
        )
        .is_ok());
    }

    fn resign_header(jws: &str, key: &SigningKey, header: Value) -> String {
        let payload = jws.split('.').nth(1).unwrap();
        let signing_input = format!(
            "{}.{payload}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
        );
        let signer = ES256.signer_from_der(&key.to_pkcs8_der()[..]).unwrap();
        use josekit::jws::JwsSigner as _;
        let sig = signer.sign(signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn wrong_typ_is_refused() {
        let key = SigningKey::make_random().unwrap();
        let jws = cert(NOW, NOW + 3600).sign(&key, None).unwrap();
        for typ in [
            json!("verifier-attestation+jwt"),
            json!("participant-list+jwt"),
            json!("JWT"),
            Value::Null,
        ] {
            let mut h = json!({ "alg": "ES256" });
            if !typ.is_null() {
                h["typ"] = typ;
            }
            let other = resign_header(&jws, &key, h);
            refused_with(verify(&other, &key.public_jwk()), "typ");
        }
        // Correctly typed but with a critical extension nobody here understands.
        let crit = resign_header(
            &jws,
            &key,
            json!({ "alg": "ES256", "typ": REGISTRATION_CERT_TYP, "crit": ["x"], "x": 1 }),
        );
        refused_with(verify(&crit, &key.public_jwk()), "not signed");
    }

    #[test]
    fn tampered_is_refused() {
        let key = SigningKey::make_random().unwrap();
        let jws = cert(NOW, NOW + 3600).sign(&key, None).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        // A longer retention, more claims, another party: the signature no longer holds.
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["purpose"]["retention_days"] = json!(3650);
        payload["purpose"]["claims"]["urn:nl:gemeente:brp-address:1"] = json!(["/bsn"]);
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap()),
            parts[2]
        );
        refused_with(verify(&forged, &key.public_jwk()), "not signed");
        // A flipped signature byte; garbage; too large.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[5] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
        refused_with(verify(&flipped, &key.public_jwk()), "not signed");
        refused_with(verify("not.a.jws", &key.public_jwk()), "not a JWT");
        refused_with(verify(&"a".repeat(20_000), &key.public_jwk()), "too large");
        // Signed, but without a purpose.
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload.as_object_mut().unwrap().remove("purpose");
        let no_purpose = sign_raw(&key, &payload);
        refused_with(verify(&no_purpose, &key.public_jwk()), "malformed");
    }

    fn sign_raw(key: &SigningKey, payload: &Value) -> String {
        let signer = ES256.signer_from_der(&key.to_pkcs8_der()[..]).unwrap();
        let mut header = JwsHeader::new();
        header.set_token_type(REGISTRATION_CERT_TYP);
        josekit::jws::serialize_compact(&serde_json::to_vec(payload).unwrap(), &header, &signer)
            .unwrap()
    }

    #[test]
    fn verifier_info_entries() {
        assert!(registration_certificates(None).unwrap().is_empty());
        let v = json!([
            { "format": "jwt", "data": "eyJ.x.y", "credential_ids": ["a"] },
            RegistrationCertificate::verifier_info_entry("h.p.s"),
            { "format": "something_else", "data": { "k": 1 } }
        ]);
        assert_eq!(registration_certificates(Some(&v)).unwrap(), vec!["h.p.s"]);
        for bad in [
            json!([]),
            json!({ "format": VERIFIER_INFO_FORMAT, "data": "h.p.s" }),
            json!([{ "data": "h.p.s" }]),
            json!([{ "format": VERIFIER_INFO_FORMAT }]),
            json!([{ "format": VERIFIER_INFO_FORMAT, "data": { "jws": "h.p.s" } }]),
            json!([{ "format": "jwt", "data": 7 }]),
        ] {
            assert!(
                matches!(
                    registration_certificates(Some(&bad)),
                    Err(Error::InvalidRequest { .. })
                ),
                "{bad}"
            );
        }
    }
}
