//! The management listener: test control that must never be reachable through the
//! ACME listener (issuing roots, certificate status, defects switched at runtime,
//! and, with the mock CA's own DNS server, challtestsrv-compatible TXT publishing for
//! clients' dns-01 hooks).

use crate::mockca::defects::Defect;
use crate::mockca::faults::FaultRule;
use crate::mockca::wfe::Wfe;
use crate::responders::DnsResponder;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) fn router(wfe: Arc<Wfe>, dns: Option<DnsResponder>) -> Router {
    let control = Router::new()
        .route("/roots/{n}", get(root))
        .route("/intermediates/{n}", get(intermediate))
        .route("/cert-status-by-serial/{serial}", get(cert_status))
        .route("/defects", get(list_defects).put(set_defects))
        .route("/faults", get(list_faults).put(set_faults))
        .route("/journal", get(journal))
        .route("/change-terms", post(change_terms))
        .route("/withdraw-profile", post(withdraw_profile))
        .with_state(wfe);
    match dns {
        Some(dns) => control.merge(dns_router(dns)),
        None => control,
    }
}

/// challtestsrv's `/set-txt` and `/clear-txt` on `dns`: what `{dns_hook}` posts to, also
/// in front of a DNS responder serving a CA other than the mock CA.
pub fn dns_router(dns: DnsResponder) -> Router {
    Router::new().route("/set-txt", post(set_txt)).route("/clear-txt", post(clear_txt)).with_state(dns)
}

fn pem(body: Option<String>) -> Response {
    match body {
        Some(p) => ([("content-type", "application/pem-certificate-chain")], p).into_response(),
        None => (StatusCode::NOT_FOUND, "no such certificate\n").into_response(),
    }
}

async fn root(State(wfe): State<Arc<Wfe>>, Path(n): Path<usize>) -> Response {
    pem(wfe.ca.root_pem(n))
}

async fn intermediate(State(wfe): State<Arc<Wfe>>, Path(n): Path<usize>) -> Response {
    pem(wfe.ca.intermediate_pem(n))
}

async fn cert_status(State(wfe): State<Arc<Wfe>>, Path(serial): Path<String>) -> Response {
    match wfe.db.certificate_by_serial(&serial.to_ascii_lowercase()) {
        Some(c) => Json(json!({
            "serial": c.issued.serial_hex,
            "status": if c.revoked.is_some() { "revoked" } else { "valid" },
            "reason": c.revoked,
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "no certificate with that serial"}))).into_response(),
    }
}

/// `POST /change-terms {"account": URL}`: the terms changed since that account agreed,
/// so it must agree again (RFC 8555 §7.3.3). Per account, so that concurrent cases with
/// other accounts are not disturbed.
async fn change_terms(State(wfe): State<Arc<Wfe>>, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(account) = body.get("account").and_then(Value::as_str) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "expected {\"account\": URL}"}))).into_response();
    };
    if wfe.change_terms(account) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"error": format!("no account at {account}")}))).into_response()
    }
}

/// `POST /withdraw-profile {"profile": NAME}`: the CA stops issuing under the profile.
/// It leaves `meta.profiles`, new orders naming it are refused, and open orders for it
/// can no longer be finalized (draft-ietf-acme-profiles §4).
async fn withdraw_profile(State(wfe): State<Arc<Wfe>>, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(name) = body.get("profile").and_then(Value::as_str) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "expected {\"profile\": NAME}"}))).into_response();
    };
    if wfe.profiles.withdraw(name) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({"error": format!("no profile {name:?}")}))).into_response()
    }
}

fn defects_json(wfe: &Wfe) -> Value {
    json!(wfe.defects.list().iter().map(|d| d.name()).collect::<Vec<_>>())
}

async fn list_defects(State(wfe): State<Arc<Wfe>>) -> Json<Value> {
    Json(defects_json(&wfe))
}

/// `PUT /defects` with a JSON array of defect names replaces the set.
async fn set_defects(State(wfe): State<Arc<Wfe>>, body: axum::body::Bytes) -> Response {
    let names: Vec<String> = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": format!("expected a JSON array of names: {e}")}))).into_response(),
    };
    let mut set = BTreeSet::new();
    for n in names {
        match n.parse::<Defect>() {
            Ok(d) => {
                set.insert(d);
            }
            Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
        }
    }
    wfe.defects.replace(set);
    Json(defects_json(&wfe)).into_response()
}

async fn list_faults(State(wfe): State<Arc<Wfe>>) -> Json<Value> {
    Json(json!({ "seed": wfe.faults.seed(), "rules": wfe.faults.rules() }))
}

/// `PUT /faults` with a JSON array of fault rules replaces the script.
async fn set_faults(State(wfe): State<Arc<Wfe>>, body: axum::body::Bytes) -> Response {
    let rules: Vec<FaultRule> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": format!("expected a JSON array of fault rules: {e}")}))).into_response(),
    };
    if let Some(e) = rules.iter().find_map(|r| r.validate().err()) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response();
    }
    wfe.faults.replace(rules);
    list_faults(State(wfe)).await.into_response()
}

async fn journal(State(wfe): State<Arc<Wfe>>) -> Json<Value> {
    Json(json!(wfe.journal.entries()))
}

/// The body of challtestsrv's `/set-txt` and `/clear-txt`.
#[derive(serde::Deserialize)]
struct TxtRequest {
    host: String,
    #[serde(default)]
    value: Option<String>,
}

/// Parses a TXT request; the error is the message of a 400 answer.
fn txt_request(body: &[u8], needs_value: bool) -> Result<TxtRequest, String> {
    let req: TxtRequest = serde_json::from_slice(body).map_err(|e| format!("expected {{\"host\": ..., \"value\": ...}}: {e}"))?;
    let name = req.host.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b)) {
        return Err(format!("{:?} is not a DNS name", req.host));
    }
    if needs_value && req.value.is_none() {
        return Err("`value` is required".into());
    }
    Ok(req)
}

fn bad_txt_request(e: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response()
}

/// `POST /set-txt {"host": "_acme-challenge.x.test.", "value": "..."}`: adds a TXT
/// value for the host (challtestsrv keeps earlier values too, so an apex and its
/// wildcard can both be validated). The trailing dot is optional here.
async fn set_txt(State(dns): State<DnsResponder>, body: axum::body::Bytes) -> Response {
    match txt_request(&body, true) {
        Ok(req) => {
            dns.add_txt(&req.host, req.value.as_deref().unwrap_or_default());
            StatusCode::OK.into_response()
        }
        Err(e) => bad_txt_request(e),
    }
}

/// `POST /clear-txt {"host": "_acme-challenge.x.test."}`: removes every TXT value of the host.
async fn clear_txt(State(dns): State<DnsResponder>, body: axum::body::Bytes) -> Response {
    match txt_request(&body, false) {
        Ok(req) => {
            dns.clear_txt(&req.host);
            StatusCode::OK.into_response()
        }
        Err(e) => bad_txt_request(e),
    }
}
