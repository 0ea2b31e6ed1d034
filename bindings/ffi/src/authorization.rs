//! The authorization code flow through the binding (HAIP 1.0 issuance, docs/COLLECTING.md): for
//! an offer whose preview says `needs_login`, the app starts the authorization, opens the login
//! URL in a browser (a Custom Tab, `ASWebAuthenticationSession`) and hands the URL the browser
//! was sent back to to `finish_authorization`. Every check (state, `iss`, redirect URI, PKCE,
//! DPoP) is the core's (`issuance::authorization`); this module only converts.

use std::sync::{Arc, Mutex, PoisonError};

use kluis_core::issuance as core_issuance;

use crate::cancel::CancelToken;
use crate::collect::{
    cancellable, CollectListener, CollectOutcome, OfferPreview, OfferSession, Progress,
};
use crate::wallet::Wallet;
use crate::KluisError;

/// A login the citizen is to complete in a browser. Open [`Self::authorization_url`]; when the
/// browser arrives at [`Self::redirect_uri`], give that whole URL to
/// [`Wallet::finish_authorization`], once. Holds the PKCE verifier and the DPoP key of this
/// issuance in the library; neither crosses the binding.
#[derive(uniffi::Object)]
pub struct AuthorizationSession {
    url: String,
    redirect_uri: String,
    preview: OfferPreview,
    inner: Mutex<Option<core_issuance::PendingAuthorization>>,
}

#[uniffi::export]
impl AuthorizationSession {
    /// The holder's login page for this request (`client_id` and the pushed `request_uri`).
    pub fn authorization_url(&self) -> String {
        self.url.clone()
    }

    /// Where the holder sends the browser back (the one the app passed in).
    pub fn redirect_uri(&self) -> String {
        self.redirect_uri.clone()
    }

    /// The offer the citizen agreed to log in for.
    pub fn preview(&self) -> OfferPreview {
        self.preview.clone()
    }

    /// Whether [`Wallet::finish_authorization`] can still be called with this session.
    pub fn is_open(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Starts collecting an offer that needs a login at the holder (`OfferPreview.needs_login`):
    /// refuses an untrusted holder before asking it anything (`UntrustedIssuer`), pushes the
    /// authorization request (PAR, PKCE S256) and returns the session with the login URL.
    /// `redirect_uri`: where the browser comes back to the app (a claimed https link or the
    /// app's own scheme). The offer session is used up (`InvalidInput` if given again, or if
    /// its offer has a transaction code instead); a holder without PAR or S256 is
    /// `Authorization` with `Unsupported`; one that requires a wallet attestation the wallet
    /// cannot get or the holder refuses is `Authorization` with `ClientAttestationRefused`.
    /// Nothing is stored.
    #[uniffi::method(default(cancel = None))]
    pub async fn start_authorization(
        &self,
        session: Arc<OfferSession>,
        redirect_uri: String,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Arc<AuthorizationSession>, KluisError> {
        let core = self.core()?;
        let taken = session.take()?;
        let pending = cancellable(cancel, move || async move {
            core.start_authorization(taken, &redirect_uri).await
        })
        .await?;
        Ok(Arc::new(AuthorizationSession {
            url: pending.authorization_url().to_string(),
            redirect_uri: pending.redirect_uri().to_string(),
            preview: pending.preview().clone().into(),
            inner: Mutex::new(Some(pending)),
        }))
    }

    /// Finishes the login with the URL the browser was redirected to (all of it, query
    /// included): checks it answers this session (its redirect URI, `state`, the holder's
    /// `iss`), exchanges the code with PKCE and DPoP and collects as `accept_offer` does. A
    /// redirect that fails a check is `Authorization` with the refusal (`OtherRedirect`,
    /// `StateMismatch`, `WrongIssuer`, `Denied`, `NoCode`, `CodeRefused`, `DpopRefused`,
    /// `ClientAttestationRefused`);
    /// nothing is stored then. The session is used up either way (`InvalidInput` if given
    /// again: start again from the offer). `listener` and `cancel` as for `accept_offer`.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub async fn finish_authorization(
        &self,
        session: Arc<AuthorizationSession>,
        redirected_to: String,
        listener: Option<Arc<dyn CollectListener>>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<CollectOutcome, KluisError> {
        let core = self.core()?;
        let taken = session
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| KluisError::InvalidInput {
                reason: "this authorization was already finished: start again from the offer"
                    .into(),
            })?;
        cancellable(cancel, move || async move {
            core.finish_authorization_reporting(taken, &redirected_to, &Progress(listener))
                .await
                .map(CollectOutcome::from)
        })
        .await
    }
}
