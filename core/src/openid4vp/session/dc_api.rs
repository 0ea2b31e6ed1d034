//! The presentation session over the Digital Credentials API: the request a web page made,
//! handed over by the platform with the page's origin, is verified and described like any other
//! (`view`), the citizen's choice is checked and built the same way (`build`), and what leaves is
//! recorded the same way (`record`) before the answer is handed back to the platform — there is
//! no `response_uri` to post to.

use serde::Serialize;
use serde_json::{json, Value};

use super::{DisclosedCredential, PresentationChoice, PresentationRequest};
use crate::audit::{Channel, DeclineReason};
use crate::openid4vp::dc_api::{audience, verify_dc_api_request, Protocol};
use crate::openid4vp::request::RequestTrust;
use crate::openid4vp::response::{dc_api_data, decline_form};
use crate::{now_unix, Error, Wallet};

/// What the wallet hands back to the platform for the page: the `DigitalCredential`'s
/// `protocol` and `data` (`vp_token`, or `response` under `dc_api.jwt`, or an error).
#[derive(Debug, Clone, Serialize)]
pub struct DcApiResponse {
    /// The exchange protocol of the request answered.
    pub protocol: String,
    /// The response `data`.
    pub data: Value,
    /// What was disclosed (empty for a decline).
    #[serde(skip)]
    pub disclosed: Vec<DisclosedCredential>,
}

impl DcApiResponse {
    /// `{"protocol": …, "data": …}`, the JSON a wallet app returns to the platform
    /// (Android Credential Manager's `DigitalCredential`, iOS likewise).
    pub fn to_json(&self) -> String {
        json!({ "protocol": self.protocol, "data": self.data }).to_string()
    }
}

fn protocol_of(req: &PresentationRequest) -> Result<&'static str, Error> {
    if !req.request.response_mode.is_dc_api() {
        return Err(Error::invalid_input(
            "this request did not come through the Digital Credentials API: answer it with accept_presentation",
        ));
    }
    Ok(req
        .dc_api_protocol
        .map(Protocol::as_str)
        .unwrap_or_default())
}

impl Wallet {
    /// Starts a presentation a web page asked for through the Digital Credentials API:
    /// `protocol` (`openid4vp-v1-unsigned`, `-signed`, `-multisigned`), the request `data` as
    /// JSON and the calling `origin`, as Android's Credential Manager or iOS hand them to the
    /// wallet. Verified against the scheme and matched against the vault as
    /// [`Wallet::start_presentation`] does; refusals are logged (`PresentationRefused`), nothing
    /// is handed back.
    pub fn start_dc_api_presentation(
        &self,
        protocol: &str,
        data: &str,
        origin: &str,
        lang: &str,
    ) -> Result<PresentationRequest, Error> {
        let result = (|| {
            let list = self.participant_list()?;
            let scheme_key = self.scheme_key()?;
            let trust = RequestTrust {
                list: list.as_ref(),
                scheme_key: scheme_key.as_ref(),
                allow_loopback_http: true,
            };
            let now = now_unix();
            let request = verify_dc_api_request(protocol, data, origin, &trust, now)?;
            self.ensure_unanswered(&request)?;
            let mut r = self.describe_request(request, Channel::DcApi, lang, now)?;
            r.dc_api_protocol = Protocol::parse(protocol);
            Ok(r)
        })();
        match result {
            Ok(r) => Ok(r),
            Err(e @ Error::InvalidRequest { .. }) => {
                Err(self.log_refusal(&audience(origin), e, Channel::DcApi))
            }
            Err(e) => Err(e),
        }
    }

    /// Builds the answer with exactly the chosen claims, each key-binding JWT naming
    /// `origin:` + the origin as its audience, records it (audit, nonce answered, copies used)
    /// and returns it for the platform. Nothing is recorded or returned when the choice is
    /// refused.
    pub async fn accept_dc_api_presentation(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
    ) -> Result<DcApiResponse, Error> {
        let _turn = self.answering.lock().await;
        let protocol = protocol_of(req)?;
        let built = self.build_presentation_response(req, choice)?;
        // Recorded before it is handed over: once the app has it, it may reach the page.
        self.record_presentation(req, &built)?;
        Ok(DcApiResponse {
            protocol: protocol.to_string(),
            data: dc_api_data(&built.form),
            disclosed: built.disclosed,
        })
    }

    /// The citizen declined: logs it, marks the nonce answered and returns the error answer
    /// (`access_denied`, encrypted under `dc_api.jwt`). An app may instead cancel the platform
    /// flow, which tells the page nothing (OpenID4VP 1.0, "Digital Credential API Error
    /// Responses"); the decline is logged either way once this is called.
    pub async fn decline_dc_api_presentation(
        &self,
        req: &PresentationRequest,
    ) -> Result<DcApiResponse, Error> {
        let _turn = self.answering.lock().await;
        let protocol = protocol_of(req)?;
        self.ensure_unanswered(&req.request)?;
        let form = decline_form(&req.request, DeclineReason::Citizen)?;
        self.record_decline_because(req, DeclineReason::Citizen)?;
        Ok(DcApiResponse {
            protocol: protocol.to_string(),
            data: dc_api_data(&form),
            disclosed: Vec::new(),
        })
    }
}
