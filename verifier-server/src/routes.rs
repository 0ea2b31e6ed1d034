//! The HTTP API (axum). Two audiences: the party's own back end (`/v1/...`: create requests,
//! read results, verify a desk QR, the scheme's list) and wallets (`/request/{state}`,
//! `/response`, `/v1/deletions`). `openapi.json` describes every route; a test checks the two
//! agree. Every refusal is a 4xx JSON `{"error", "error_description"}` with nothing changed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::service::{ServiceError, Verifier, MAX_BODY_BYTES};

/// The OpenAPI 3.1 description of these routes.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route (method, path) — the list `openapi.json` must describe exactly; keep it next to
/// [`router`].
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/requests"),
    ("get", "/v1/requests/{state}"),
    ("post", "/v1/qr"),
    ("post", "/v1/deletions"),
    ("get", "/v1/participants"),
    ("get", "/v1/health"),
    ("get", "/openapi.json"),
    ("get", "/request/{state}"),
    ("post", "/response"),
];

/// The router for `verifier`.
pub fn router(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/v1/requests", post(create_request))
        .route("/v1/requests/{state}", get(result))
        .route("/v1/qr", post(verify_qr))
        .route("/v1/deletions", post(deletion))
        .route("/v1/participants", get(participants))
        .route("/v1/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/request/{state}", get(request_object))
        .route("/response", post(response))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(verifier)
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response()
}

/// The one mapping from service errors to HTTP, and the one place refusals are logged.
fn refused(route: &str, e: &ServiceError) -> Response {
    let (status, code) = match e {
        ServiceError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        ServiceError::AlreadyAnswered => (StatusCode::BAD_REQUEST, "invalid_request"),
        ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ServiceError::State(_) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
        ServiceError::Upstream(_) => (StatusCode::BAD_GATEWAY, "temporarily_unavailable"),
        ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    // Reasons name the failed check, never a claim value or key (the library's rule).
    eprintln!("kluis-verifier: {route}: {} {e}", status.as_u16());
    error(status, code, &e.to_string())
}

fn content_type_is(headers: &HeaderMap, want: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

fn wrong_type(want: &str) -> Response {
    error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        &format!("the body must be {want}"),
    )
}

fn text(body: &Bytes) -> Result<&str, Box<Response>> {
    std::str::from_utf8(body).map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not UTF-8",
        ))
    })
}

async fn create_request(
    State(v): State<Arc<Verifier>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !content_type_is(&headers, "application/json") {
        return wrong_type("application/json");
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        query: Option<String>,
        dcql: Option<Value>,
        purpose: Option<String>,
    }
    let b: Body = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be {\"query\": NAME} or {\"dcql\": {...}, \"purpose\": ID}",
            )
        }
    };
    match v
        .create_request(b.query.as_deref(), b.dcql.as_ref(), b.purpose.as_deref())
        .await
    {
        Ok(c) => (StatusCode::CREATED, Json(c)).into_response(),
        Err(e) => refused("POST /v1/requests", &e),
    }
}

async fn result(State(v): State<Arc<Verifier>>, Path(state): Path<String>) -> Response {
    match v.result(&state).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => refused("GET /v1/requests/{state}", &e),
    }
}

async fn verify_qr(State(v): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> Response {
    if !content_type_is(&headers, "text/plain") {
        return wrong_type("text/plain");
    }
    let t = match text(&body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match v.verify_qr(t).await {
        Ok(r) if r.status == "pending" => (StatusCode::ACCEPTED, Json(r)).into_response(),
        Ok(r) => Json(r).into_response(),
        Err(e) => refused("POST /v1/qr", &e),
    }
}

async fn deletion(State(v): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> Response {
    if !content_type_is(&headers, "application/jwt") {
        return wrong_type("application/jwt");
    }
    let t = match text(&body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match v.delete_on_request(t).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => refused("POST /v1/deletions", &e),
    }
}

async fn participants(State(v): State<Arc<Verifier>>) -> Response {
    match v.participant_list().await {
        Ok(l) => Json(json!({
            "iss": l.iss, "iat": l.iat, "exp": l.exp,
            "holders": l.holders, "requesting_parties": l.requesting_parties,
        }))
        .into_response(),
        Err(e) => refused("GET /v1/participants", &e),
    }
}

async fn health(State(v): State<Arc<Verifier>>) -> Response {
    match v.state().ping().await {
        Ok(()) => Json(json!({ "status": "ok", "client_id": v.client_id() })).into_response(),
        Err(e) => refused("GET /v1/health", &e.into()),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn request_object(State(v): State<Arc<Verifier>>, Path(state): Path<String>) -> Response {
    match v.request_object(&state).await {
        Ok(jwt) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/oauth-authz-req+jwt")],
            jwt,
        )
            .into_response(),
        Err(e) => refused("GET /request/{state}", &e),
    }
}

async fn response(State(v): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> Response {
    if !content_type_is(&headers, "application/x-www-form-urlencoded") {
        return wrong_type("application/x-www-form-urlencoded");
    }
    let t = match text(&body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match v.submit_response(t).await {
        // OpenID4VP 1.0 §8.2: 200 with a JSON object (no redirect_uri: cross-device flow).
        Ok(_) => Json(json!({})).into_response(),
        Err(e) => refused("POST /response", &e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn openapi_describes_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        let mut described: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                described.push((method.clone(), path.clone()));
            }
        }
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        described.sort();
        routes.sort();
        assert_eq!(described, routes);
    }
}
