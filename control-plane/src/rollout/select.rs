//! Which gateways are a rollout's canaries: `--canary 10%` (ceil of the share of connected
//! gateways, at least 1), `--canary gw-a,gw-b` or `--canary region=eu-west`. Deterministic (ids
//! in sorted order), weir-dns nodes are never canaries, and with more than one gateway connected
//! at least one is left out as the baseline to compare against. Fails with a sentence saying why.

use std::collections::{BTreeMap, BTreeSet};

/// How the canaries are chosen, as written after `--canary` (`canary=` in the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A whole percentage of the connected gateways, `1..=100`.
    Percent(u32),
    /// These gateway ids.
    Ids(BTreeSet<String>),
    /// Every connected gateway of this region.
    Region(String),
}

/// A gateway that could be a canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub region: Option<String>,
    /// Its push stream is open.
    pub connected: bool,
    /// A weir-dns node: never a canary.
    pub dns: bool,
}

impl Selector {
    /// `"10%"`, `"region=eu-west"` or `"gw-a,gw-b"`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            return number
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .map(Selector::Percent)
                .ok_or_else(|| {
                    format!("canary: a percentage must be whole, 1% to 100%, got {text:?}")
                });
        }
        if let Some(region) = text.strip_prefix("region=") {
            let region = region.trim();
            if region.is_empty() {
                return Err("canary: region= needs a region name".into());
            }
            return Ok(Selector::Region(region.to_owned()));
        }
        let ids: BTreeSet<String> = text
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect();
        if ids.is_empty() {
            return Err(
                "canary: give a percentage (10%), gateway ids (gw-a,gw-b) or region=NAME".into(),
            );
        }
        Ok(Selector::Ids(ids))
    }

    /// The canaries among `candidates`.
    pub fn choose(&self, candidates: &[Candidate]) -> Result<BTreeSet<String>, String> {
        // Sorted by id: the same fleet always gives the same canaries.
        let connected: BTreeMap<&str, &Candidate> = candidates
            .iter()
            .filter(|c| c.connected && !c.dns)
            .map(|c| (c.id.as_str(), c))
            .collect();
        if connected.is_empty() {
            return Err("no gateway is connected: there is nothing to canary on".into());
        }
        let chosen: BTreeSet<String> = match self {
            Selector::Percent(percent) => {
                let total = connected.len();
                let mut count = (total * *percent as usize).div_ceil(100).max(1);
                if total > 1 {
                    count = count.min(total - 1);
                }
                connected
                    .keys()
                    .take(count)
                    .map(|id| (*id).to_owned())
                    .collect()
            }
            Selector::Ids(ids) => {
                let missing: Vec<&str> = ids
                    .iter()
                    .map(String::as_str)
                    .filter(|id| !connected.contains_key(id))
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "no connected gateway has the id {}",
                        missing.join(", ")
                    ));
                }
                ids.clone()
            }
            Selector::Region(region) => {
                let chosen: BTreeSet<String> = connected
                    .values()
                    .filter(|c| c.region.as_deref() == Some(region))
                    .map(|c| c.id.clone())
                    .collect();
                if chosen.is_empty() {
                    return Err(format!("no connected gateway is in region {region}"));
                }
                chosen
            }
        };
        if connected.len() > 1 && chosen.len() == connected.len() {
            return Err(format!(
                "{self} would make every connected gateway ({}) a canary: leave at least one \
                 out as the baseline",
                connected.len()
            ));
        }
        Ok(chosen)
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Percent(percent) => write!(f, "{percent}%"),
            Selector::Ids(ids) => {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                write!(f, "{}", ids.join(","))
            }
            Selector::Region(region) => write!(f, "region={region}"),
        }
    }
}
