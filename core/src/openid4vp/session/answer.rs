//! Accept or decline over `direct_post` / `direct_post.jwt`, then record what was sent.

use super::{PresentationChoice, PresentationOutcome, PresentationRequest};
use crate::http::{Http, HttpPolicy};
use crate::openid4vp::response::{decline_form, post_response, ResponseAck};
use crate::{Error, Wallet};

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
        let built = self.build_presentation_response(req, choice)?;
        let http = Http::new(policy)?;
        let ack = match post_response(&http, &req.request.response_uri, &built.form).await {
            Ok(ack) => ack,
            // The party answered with an error: it did receive the data, so the disclosure is
            // logged all the same.
            Err(e @ Error::InvalidPresentation { .. }) => {
                self.record_presentation(req, &built)?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.record_presentation(req, &built)?;
        Ok(PresentationOutcome {
            client_id: req.request.client_id.full.clone(),
            disclosed: built.disclosed,
            ack,
        })
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
        let http = Http::new(policy)?;
        let ack = post_response(
            &http,
            &req.request.response_uri,
            &decline_form(&req.request),
        )
        .await;
        self.record_decline(req)?;
        ack
    }
}
