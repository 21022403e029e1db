//! The addresses each endpoint name resolved to last, swapped whole (one `ArcSwap::store` per
//! change) by the resolver task and read by the snapshot compiler; a name never resolved has no
//! entry, so its pools have no endpoint from it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use weir_config::EndpointName;

/// Host → its last good addresses (sorted, capped).
type Answers = BTreeMap<String, Arc<[IpAddr]>>;

#[derive(Default)]
pub struct ResolvedNames {
    answers: ArcSwap<Answers>,
}

impl ResolvedNames {
    /// The addresses `name` stands for now, on its port; empty until it has resolved once.
    pub fn addresses(&self, name: &EndpointName) -> Vec<SocketAddr> {
        self.answers
            .load()
            .get(&name.host)
            .map(|ips| {
                ips.iter()
                    .map(|ip| SocketAddr::new(*ip, name.port))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last good addresses of `host`, if it has resolved once.
    pub fn get(&self, host: &str) -> Option<Arc<[IpAddr]>> {
        self.answers.load().get(host).cloned()
    }

    /// Every host with an answer, and its addresses.
    pub fn all(&self) -> Arc<Answers> {
        self.answers.load_full()
    }

    /// Publishes `changes` (a host's new addresses) and forgets hosts not in `keep`, in one
    /// store. Only the resolver task writes, so a load-modify-store cannot lose an update.
    pub fn update(
        &self,
        changes: impl IntoIterator<Item = (String, Arc<[IpAddr]>)>,
        keep: impl Fn(&str) -> bool,
    ) {
        let mut next: Answers = (**self.answers.load()).clone();
        next.extend(changes);
        next.retain(|host, _| keep(host));
        self.answers.store(Arc::new(next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &str, port: u16) -> EndpointName {
        EndpointName {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn a_name_stands_for_its_addresses_on_its_port() {
        let view = ResolvedNames::default();
        assert!(view.addresses(&name("api.internal", 80)).is_empty());
        let ips: Arc<[IpAddr]> = Arc::from(["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()]);
        view.update([("api.internal".to_owned(), ips)], |_| true);
        let shown: Vec<String> = view
            .addresses(&name("api.internal", 80))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["10.0.0.1:80", "[::1]:80"]);
        view.update([], |host| host != "api.internal");
        assert!(view.get("api.internal").is_none());
    }
}
