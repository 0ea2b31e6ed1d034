//! OpenID for Verifiable Presentations 1.0 on the wallet side. So far: the DCQL query language
//! ([`dcql`]); the request object, the presentation session and the response modes arrive with the
//! rest of the presenting issue.

pub mod dcql;
