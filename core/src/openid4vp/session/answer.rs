//! Accept or decline over `direct_post` / `direct_post.jwt` — each response sent once — then
//! record what was sent and what became of it.

use super::{BuiltResponse, PresentationChoice, PresentationOutcome, PresentationRequest};
use crate::audit::DeclineReason;
use crate::http::{Http, HttpPolicy};
use crate::openid4vp::response::{decline_form, post_response, Posted, ResponseAck};
use crate::{Error, NetworkFailure, Wallet};

impl Wallet {
    /// Sends exactly the chosen claims to the party (`direct_post` / `direct_post.jwt`) and logs
    /// the disclosure. Nothing is sent when the choice is refused.
    pub async fn accept_presentation(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
    ) -> Result<PresentationOutcome, Error> {
        self.accept_presentation_with(req, choice, HttpPolicy::default())
            .await
    }

    /// As [`Wallet::accept_presentation`] with an explicit HTTP policy.
    pub async fn accept_presentation_with(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
        policy: HttpPolicy,
    ) -> Result<PresentationOutcome, Error> {
        let _turn = self.answering.lock().await;
        refuse_dc_api(req)?;
        let built = self.build_presentation_response(req, choice)?;
        let http = Http::new(policy)?;
        // Sent once. `Err` here means nothing left the phone: nothing to log, the nonce stays
        // unanswered. Once the body may have reached the party it is logged and never re-sent.
        let posted = post_response(&http, &req.request.response_uri, &built.form).await?;
        let ack = self.settle(req, &built, posted)?;
        Ok(PresentationOutcome {
            client_id: req.request.client_id.full.clone(),
            disclosed: built.disclosed,
            ack,
        })
    }

    /// Logs a response that left the phone with what became of it; only an acknowledged one is
    /// `Ok`.
    fn settle(
        &self,
        req: &PresentationRequest,
        built: &BuiltResponse,
        posted: Posted,
    ) -> Result<ResponseAck, Error> {
        self.record_delivery(req, built, Some(posted.delivery()))?;
        posted.into_ack()
    }

    /// Tells the party the citizen declined (`error=access_denied`) and logs it.
    pub async fn decline_presentation(
        &self,
        req: &PresentationRequest,
    ) -> Result<ResponseAck, Error> {
        self.decline_presentation_with(req, HttpPolicy::default())
            .await
    }

    /// As [`Wallet::decline_presentation`] with an explicit HTTP policy.
    pub async fn decline_presentation_with(
        &self,
        req: &PresentationRequest,
        policy: HttpPolicy,
    ) -> Result<ResponseAck, Error> {
        self.send_decline(req, DeclineReason::Citizen, policy).await
    }

    /// Tells the party the wallet cannot answer (`access_denied`, OpenID4VP 1.0 §5.6: it holds
    /// nothing that answers the query, so the citizen was not asked) and logs it.
    pub async fn decline_unanswerable(
        &self,
        req: &PresentationRequest,
        policy: HttpPolicy,
    ) -> Result<ResponseAck, Error> {
        self.send_decline(req, DeclineReason::NothingToAnswer, policy)
            .await
    }

    /// Sends the error response once (encrypted under `direct_post.jwt`) and logs the decline,
    /// also when the party cannot be reached.
    async fn send_decline(
        &self,
        req: &PresentationRequest,
        why: DeclineReason,
        policy: HttpPolicy,
    ) -> Result<ResponseAck, Error> {
        let _turn = self.answering.lock().await;
        refuse_dc_api(req)?;
        self.ensure_unanswered(&req.request)?;
        let form = decline_form(&req.request, why)?;
        let http = Http::new(policy)?;
        let posted = post_response(&http, &req.request.response_uri, &form).await;
        self.record_decline_because(req, why)?;
        match posted? {
            Posted::Received(ack) => Ok(ack),
            Posted::Rejected { reason, .. } => Err(Error::InvalidPresentation {
                reason: format!("the requesting party rejected the decline: {reason}"),
            }),
            Posted::Uncertain { reason } => Err(Error::Network {
                kind: NetworkFailure::BrokeOff,
                reason,
            }),
        }
    }
}

/// A Digital Credentials API request has no `response_uri`: its answer goes back through the
/// platform (`Wallet::accept_dc_api_presentation`).
fn refuse_dc_api(req: &PresentationRequest) -> Result<(), Error> {
    if req.request.response_mode.is_dc_api() {
        return Err(Error::invalid_input(
            "this request came through the Digital Credentials API: answer it with accept_dc_api_presentation / decline_dc_api_presentation",
        ));
    }
    Ok(())
}
