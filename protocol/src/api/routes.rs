//! Every route of the control plane's API as a typed constant: its method and its path template
//! (`{name}` marks a path parameter, as in axum and OpenAPI). The control plane builds its router
//! from [`Route::ALL`], its OpenAPI document is checked against it, and clients fill the templates
//! with [`Route::fill`], so a path is spelled once.

use crate::push::STREAM_PATH;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Put,
    Post,
}

impl Method {
    /// `GET`, `PUT` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// Declares [`Route`] and [`Route::ALL`] from one list, so no route can be left out of `ALL`.
macro_rules! routes {
    ($($(#[$doc:meta])* $name:ident = $method:ident $path:expr,)*) => {
        /// One route of the API (method and path).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Route {
            $($(#[$doc])* $name,)*
        }

        impl Route {
            /// Every route, in the order the API documentation lists them.
            pub const ALL: &[Route] = &[$(Route::$name,)*];

            pub fn method(self) -> Method {
                match self {
                    $(Route::$name => Method::$method,)*
                }
            }

            /// The path template: `{name}` for each parameter.
            pub fn path(self) -> &'static str {
                match self {
                    $(Route::$name => $path,)*
                }
            }
        }
    };
}

routes! {
    /// `ok` while the process serves; the only route without a token.
    Healthz = Get "/healthz",
    /// The control plane's own metrics (Prometheus text).
    Metrics = Get "/metrics",
    /// The OpenAPI document of this API.
    OpenApi = Get "/v1/openapi.json",
    /// The current version ([`ConfigVersion`](super::ConfigVersion), or TOML with
    /// `?format=toml`).
    GetConfig = Get "/v1/config",
    /// Replace the fleet config ([`ConfigWrite`](super::ConfigWrite)).
    PutConfig = Put "/v1/config",
    /// The versions, newest first ([`VersionList`](super::VersionList)).
    ListVersions = Get "/v1/versions",
    /// One version with its config ([`ConfigVersion`](super::ConfigVersion)).
    GetVersion = Get "/v1/versions/{version}",
    /// A new version equal to an old one ([`Written`](super::Written) of
    /// [`RolledBack`](super::RolledBack)).
    Rollback = Post "/v1/versions/{version}/rollback",
    /// One pool's weight ([`Written`](super::Written) of [`WeightSet`](super::WeightSet)).
    SetWeight = Put "/v1/upstreams/{upstream}/pools/{region}/weight",
    /// The weight of a DNS name's members in one region ([`Written`](super::Written) of
    /// [`WeightSet`](super::WeightSet)).
    SetMemberWeight = Put "/v1/dns/names/{name}/members/{region}/weight",
    /// Every pool of a region to weight 0 ([`Written`](super::Written)).
    DrainRegion = Post "/v1/regions/{region}/drain",
    /// A drained region's weights back ([`Written`](super::Written) of
    /// [`RegionRestored`](super::RegionRestored)).
    RestoreRegion = Post "/v1/regions/{region}/restore",
    /// One endpoint out of its pools' rotation ([`Written`](super::Written) of
    /// [`EndpointSet`](super::EndpointSet)).
    DrainEndpoint = Post "/v1/endpoints/{addr}/drain",
    /// A drained endpoint back ([`Written`](super::Written) of
    /// [`EndpointSet`](super::EndpointSet)).
    RestoreEndpoint = Post "/v1/endpoints/{addr}/restore",
    /// The gateways and their last reports ([`GatewayList`](super::GatewayList)).
    Gateways = Get "/v1/gateways",
    /// A gateway's ACK or NACK ([`Report`](crate::Report)).
    Report = Post "/v1/gateways/{id}/report",
    /// A gateway's health summary ([`Telemetry`](crate::Telemetry)), every few seconds.
    Telemetry = Post "/v1/gateways/{id}/telemetry",
    /// Every gateway's latest health summary and staleness ([`TelemetryList`](super::TelemetryList)).
    TelemetryList = Get "/v1/telemetry",
    /// The push stream ([`StreamMessage`](crate::StreamMessage) lines).
    Stream = Get STREAM_PATH,
    /// The audit log, newest first ([`AuditList`](super::AuditList)).
    Audit = Get "/v1/audit",
    /// The failover policy's state per upstream and region
    /// ([`FailoverStatus`](super::FailoverStatus)).
    FailoverStatus = Get "/v1/failover",
    /// Stop policy actions for `?upstream=` or every upstream
    /// ([`FailoverPaused`](super::FailoverPaused)).
    FailoverPause = Post "/v1/failover/pause",
    /// Undo a pause ([`FailoverPaused`](super::FailoverPaused)).
    FailoverResume = Post "/v1/failover/resume",
    /// The last staged rollout ([`RolloutStatus`](super::RolloutStatus)).
    RolloutStatus = Get "/v1/rollout",
    /// Promote the rollout under bake now ([`RolloutStatus`](super::RolloutStatus)).
    RolloutPromote = Post "/v1/rollout/promote",
    /// Roll the rollout under bake back now ([`RolloutStatus`](super::RolloutStatus)).
    RolloutAbort = Post "/v1/rollout/abort",
}

impl Route {
    /// The path with its parameters replaced, in order, by `params` (already percent-encoded
    /// by the caller). A parameter without a value is left as its `{name}`, which no server
    /// route matches literally.
    pub fn fill(self, params: &[&str]) -> String {
        let template = self.path();
        let mut path =
            String::with_capacity(template.len() + params.iter().map(|p| p.len()).sum::<usize>());
        let mut params = params.iter();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            path.push_str(&rest[..open]);
            match params.next() {
                Some(param) => path.push_str(param),
                None => path.push_str(&rest[open..=close]),
            }
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        path
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_route_is_listed_once() {
        let unique: HashSet<(Method, &str)> =
            Route::ALL.iter().map(|r| (r.method(), r.path())).collect();
        assert_eq!(unique.len(), Route::ALL.len());
        assert!(Route::ALL.iter().all(|r| r.path().starts_with('/')));
        assert_eq!(Route::Stream.path(), STREAM_PATH);
    }

    #[test]
    fn fill_replaces_parameters_in_order() {
        assert_eq!(
            Route::SetWeight.fill(&["api", "eu-west"]),
            "/v1/upstreams/api/pools/eu-west/weight"
        );
        assert_eq!(Route::Rollback.fill(&["5"]), "/v1/versions/5/rollback");
        assert_eq!(Route::Gateways.fill(&[]), "/v1/gateways");
        assert_eq!(
            Route::SetWeight.fill(&["api"]),
            "/v1/upstreams/api/pools/{region}/weight"
        );
        assert_eq!(Route::Audit.method().as_str(), "GET");
        assert_eq!(Route::PutConfig.method().as_str(), "PUT");
        assert_eq!(Route::DrainRegion.method().as_str(), "POST");
    }
}
