//! The management listener: test control that must never be reachable through the
//! ACME listener (issuing roots, certificate status, defects switched at runtime).

use crate::mockca::defects::Defect;
use crate::mockca::faults::FaultRule;
use crate::mockca::wfe::Wfe;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) fn router(wfe: Arc<Wfe>) -> Router {
    Router::new()
        .route("/roots/{n}", get(root))
        .route("/intermediates/{n}", get(intermediate))
        .route("/cert-status-by-serial/{serial}", get(cert_status))
        .route("/defects", get(list_defects).put(set_defects))
        .route("/faults", get(list_faults).put(set_faults))
        .route("/journal", get(journal))
        .with_state(wfe)
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
