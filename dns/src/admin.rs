//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process is up), `/readyz`
//! (a config is loaded and the DNS listeners are serving; fed by the control plane, `503` until
//! a first version, pushed or cached, is applied) and `/status` (JSON: the config
//! generation, the last reload's errors, every name's members with their health). Anything else
//! is a 404.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use prometheus::{Encoder, TextEncoder};
use serde::Serialize;

use crate::engine::Member;
use crate::state::{LoadStatus, State};

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/status", get(status))
        .with_state(state)
}

/// Sets the member gauge from the live catalog (so it only ever has the current members) and
/// renders every metric.
async fn metrics(Extract(state): Extract<Arc<State>>) -> impl IntoResponse {
    let catalog = state.catalog.load();
    let gauge = &state.metrics.member_healthy;
    gauge.reset();
    for name in catalog.names() {
        for (index, member) in name.rules.members.iter().enumerate() {
            gauge
                .with_label_values(&[&*name.name, &index.to_string(), &*member.region])
                .set(i64::from(member.eligible()));
        }
    }
    let mut body = Vec::new();
    let families = state.metrics.registry.gather();
    if let Err(error) = TextEncoder::new().encode(&families, &mut body) {
        return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn ready(Extract(state): Extract<Arc<State>>) -> impl IntoResponse {
    if state.config_path.is_none() && state.served().0 == 0 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no config from the control plane yet\n",
        )
    } else {
        (StatusCode::OK, "ready\n")
    }
}

#[derive(Serialize)]
struct Status {
    config: LoadStatus,
    /// `"probes and gateways"` while the control plane's gateway readiness is followed, else
    /// `"probes alone"`.
    health_sources: &'static str,
    zones: Vec<String>,
    names: Vec<NameStatus>,
}

#[derive(Serialize)]
struct NameStatus {
    name: String,
    policy: String,
    members: Vec<MemberStatus>,
}

#[derive(Serialize)]
struct MemberStatus {
    region: String,
    addresses: Vec<String>,
    weight: u32,
    health: Option<String>,
    /// Healthy per its probes (always, without a `health` URL).
    healthy: bool,
    /// Healthy (probes and gateways) with weight > 0: answered.
    answered: bool,
    /// Its region's gateways as the control plane last said (`null`: probes alone).
    gateways: Option<weir_protocol::RegionGateways>,
    /// A probe disagreed with the current state.
    changing: bool,
    /// Seconds since the health state last changed.
    state_for_seconds: Option<f64>,
    last_probe_ok: Option<bool>,
}

fn member_status(member: &Member, now: Instant) -> MemberStatus {
    let snapshot = member.health.as_ref().map(|target| target.snapshot());
    MemberStatus {
        region: member.region.to_string(),
        addresses: member.addresses.iter().map(ToString::to_string).collect(),
        weight: member.weight,
        health: member.health.as_ref().map(|target| target.url.to_string()),
        healthy: snapshot.as_ref().is_none_or(|state| state.up()),
        answered: member.eligible(),
        gateways: member.gate.counts(),
        changing: member.changing(),
        state_for_seconds: snapshot
            .as_ref()
            .map(|state| now.saturating_duration_since(state.since()).as_secs_f64()),
        last_probe_ok: snapshot.and_then(|state| state.last()).map(|(_, ok)| ok),
    }
}

async fn status(Extract(state): Extract<Arc<State>>) -> Json<Status> {
    let catalog = state.catalog.load();
    let now = Instant::now();
    let mut names: Vec<NameStatus> = catalog
        .names()
        .map(|name| NameStatus {
            name: name.name.to_string(),
            policy: name.rules.policy.to_string(),
            members: name
                .rules
                .members
                .iter()
                .map(|member| member_status(member, now))
                .collect(),
        })
        .collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let config = state.status();
    Json(Status {
        config,
        health_sources: if state.gates.following() {
            "probes and gateways"
        } else {
            "probes alone"
        },
        zones: catalog.settings.zones.clone(),
        names,
    })
}
