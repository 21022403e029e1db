//! Traffic-shifting edits of a fleet config's TOML text (one pool's weight; a region drained or
//! restored) that keep everything else byte for byte, comments included. An edit fails, leaving
//! nothing changed, when the text does not parse or names no such upstream, pool or region; the
//! caller validates the result in full before storing it.

use std::collections::BTreeMap;

use toml_edit::{DocumentMut, Item, TableLike, Value};

/// Weights a drain set to 0, by region then upstream, so the restore can put them back.
pub type Drained = BTreeMap<String, BTreeMap<String, u32>>;

/// The weight a pool has when its `weight` key is absent.
const DEFAULT_WEIGHT: u32 = 100;
const MAX_WEIGHT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the stored config does not parse as TOML: {0}")]
    Syntax(String),
    #[error("there is no upstream {0:?}; upstreams: {1}")]
    UnknownUpstream(String, String),
    #[error("upstream {upstream:?} has no pool in region {region:?}; its pools: {pools}")]
    UnknownPool {
        upstream: String,
        region: String,
        pools: String,
    },
    #[error("no upstream has a pool in region {0:?}")]
    UnknownRegion(String),
    #[error("weight must be between 0 and {MAX_WEIGHT}, got {0}")]
    WeightOutOfRange(u32),
    #[error("region {0:?} is already drained; restore it first")]
    AlreadyDrained(String),
    #[error("region {0:?} is not drained")]
    NotDrained(String),
    #[error("{0}")]
    Malformed(String),
}

impl EditError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            EditError::UnknownUpstream(..)
            | EditError::UnknownPool { .. }
            | EditError::UnknownRegion(_) => 404,
            EditError::AlreadyDrained(_) | EditError::NotDrained(_) => 409,
            EditError::Syntax(_) | EditError::WeightOutOfRange(_) | EditError::Malformed(_) => 422,
        }
    }
}

fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>()
        .map_err(|e| EditError::Syntax(e.to_string()))
}

/// Calls `visit(upstream, region, pool)` for every pool of every upstream.
fn for_each_pool(
    document: &mut DocumentMut,
    mut visit: impl FnMut(&str, &str, &mut dyn TableLike) -> Result<(), EditError>,
) -> Result<(), EditError> {
    let Some(upstreams) = document
        .get_mut("upstreams")
        .and_then(Item::as_table_like_mut)
    else {
        return Ok(());
    };
    for (name, upstream) in upstreams.iter_mut() {
        let name = name.get().to_string();
        let Some(pools) = upstream
            .as_table_like_mut()
            .and_then(|u| u.get_mut("pools"))
        else {
            continue;
        };
        let mut visit_pool = |pool: &mut dyn TableLike| -> Result<(), EditError> {
            let region = pool
                .get("region")
                .and_then(Item::as_str)
                .unwrap_or_default()
                .to_string();
            visit(&name, &region, pool)
        };
        match pools {
            Item::ArrayOfTables(tables) => {
                for pool in tables.iter_mut() {
                    visit_pool(pool)?;
                }
            }
            Item::Value(Value::Array(array)) => {
                for value in array.iter_mut() {
                    let pool = value.as_inline_table_mut().ok_or_else(|| {
                        EditError::Malformed(format!("upstreams.{name}.pools holds a non-table"))
                    })?;
                    visit_pool(pool)?;
                }
            }
            _ => {
                return Err(EditError::Malformed(format!(
                    "upstreams.{name}.pools is not an array of pools"
                )));
            }
        }
    }
    Ok(())
}

fn weight_of(pool: &dyn TableLike) -> u32 {
    pool.get("weight")
        .and_then(Item::as_integer)
        .and_then(|w| u32::try_from(w).ok())
        .unwrap_or(DEFAULT_WEIGHT)
}

/// Writes `weight` into `pool`, keeping the key's decoration when it exists.
fn put_weight(pool: &mut dyn TableLike, weight: u32) {
    match pool.get_mut("weight") {
        Some(Item::Value(value)) => {
            let decor = value.decor().clone();
            *value = Value::from(i64::from(weight));
            *value.decor_mut() = decor;
        }
        _ => {
            pool.insert("weight", toml_edit::value(i64::from(weight)));
        }
    }
}

/// Sets one pool's weight. Returns the new text and the weight it had.
pub fn set_weight(
    text: &str,
    upstream: &str,
    region: &str,
    weight: u32,
) -> Result<(String, u32), EditError> {
    if weight > MAX_WEIGHT {
        return Err(EditError::WeightOutOfRange(weight));
    }
    let mut document = parse(text)?;
    let upstream_names = names_of_upstreams(&document);
    if !upstream_names.iter().any(|n| n == upstream) {
        return Err(EditError::UnknownUpstream(
            upstream.to_string(),
            upstream_names.join(", "),
        ));
    }
    let mut previous = None;
    let mut regions = Vec::new();
    for_each_pool(&mut document, |name, pool_region, pool| {
        if name == upstream {
            regions.push(pool_region.to_string());
            if pool_region == region {
                previous = Some(weight_of(pool));
                put_weight(pool, weight);
            }
        }
        Ok(())
    })?;
    let previous = previous.ok_or_else(|| EditError::UnknownPool {
        upstream: upstream.to_string(),
        region: region.to_string(),
        pools: regions.join(", "),
    })?;
    Ok((document.to_string(), previous))
}

fn names_of_upstreams(document: &DocumentMut) -> Vec<String> {
    document
        .get("upstreams")
        .and_then(Item::as_table_like)
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default()
}

/// Weight 0 on every pool in `region`, remembering each previous weight (merged into a copy of
/// `drained`).
pub fn drain_region(
    text: &str,
    region: &str,
    drained: &Drained,
) -> Result<(String, Drained), EditError> {
    if drained.contains_key(region) {
        return Err(EditError::AlreadyDrained(region.to_string()));
    }
    let mut document = parse(text)?;
    let mut remembered = BTreeMap::new();
    for_each_pool(&mut document, |upstream, pool_region, pool| {
        if pool_region == region {
            remembered.insert(upstream.to_string(), weight_of(pool));
            put_weight(pool, 0);
        }
        Ok(())
    })?;
    if remembered.is_empty() {
        return Err(EditError::UnknownRegion(region.to_string()));
    }
    let mut drained = drained.clone();
    drained.insert(region.to_string(), remembered);
    Ok((document.to_string(), drained))
}

/// Puts back the weights remembered for `region` on the pools that still exist; returns the
/// new text, the map without the region, and the `upstream/region` pools gone since the drain.
pub fn restore_region(
    text: &str,
    region: &str,
    drained: &Drained,
) -> Result<(String, Drained, Vec<String>), EditError> {
    let remembered = drained
        .get(region)
        .ok_or_else(|| EditError::NotDrained(region.to_string()))?;
    let mut document = parse(text)?;
    let mut restored = Vec::new();
    for_each_pool(&mut document, |upstream, pool_region, pool| {
        if pool_region == region
            && let Some(weight) = remembered.get(upstream)
        {
            put_weight(pool, *weight);
            restored.push(upstream.to_string());
        }
        Ok(())
    })?;
    let gone = remembered
        .keys()
        .filter(|upstream| !restored.contains(upstream))
        .map(|upstream| format!("{upstream}/{region}"))
        .collect();
    let mut drained = drained.clone();
    drained.remove(region);
    Ok((document.to_string(), drained, gone))
}

/// Every pool's weight by (upstream, region).
pub fn weights(text: &str) -> Result<BTreeMap<(String, String), u32>, EditError> {
    let mut document = parse(text)?;
    let mut weights = BTreeMap::new();
    for_each_pool(&mut document, |upstream, region, pool| {
        weights.insert((upstream.to_string(), region.to_string()), weight_of(pool));
        Ok(())
    })?;
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: &str = "# fleet\n[upstreams.app]\nregion_policy = \"nearest\" # home first\n\n\
        [[upstreams.app.pools]]\nregion = \"us-east\"\nweight = 80 # most\nendpoints = [\"127.0.0.1:1\"]\n\n\
        [[upstreams.app.pools]]\nregion = \"eu-west\"\nendpoints = [\"127.0.0.1:2\"]\n\n\
        [upstreams.api]\npools = [{ region = \"us-east\", weight = 10, endpoints = [\"127.0.0.1:3\"] }]\n";

    #[test]
    fn set_weight_keeps_everything_else() {
        let (text, was) = set_weight(TABLES, "app", "us-east", 30).unwrap();
        assert_eq!(was, 80);
        assert_eq!(
            text,
            TABLES.replace("weight = 80 # most", "weight = 30 # most")
        );
        let (text, was) = set_weight(TABLES, "app", "eu-west", 5).unwrap();
        assert_eq!(was, 100, "absent means 100");
        assert_eq!(
            weights(&text).unwrap()[&("app".into(), "eu-west".into())],
            5
        );
        let (text, was) = set_weight(TABLES, "api", "us-east", 0).unwrap();
        assert_eq!(was, 10);
        assert!(
            text.contains("{ region = \"us-east\", weight = 0, endpoints"),
            "{text}"
        );
    }

    #[test]
    fn unknown_names_and_ranges_are_refused() {
        assert!(matches!(
            set_weight(TABLES, "nope", "us-east", 1),
            Err(EditError::UnknownUpstream(..))
        ));
        let err = set_weight(TABLES, "app", "mars", 1).unwrap_err();
        assert_eq!(err.status(), 404);
        assert!(err.to_string().contains("us-east, eu-west"), "{err}");
        assert_eq!(
            set_weight(TABLES, "app", "us-east", 101),
            Err(EditError::WeightOutOfRange(101))
        );
        assert_eq!(set_weight("[x", "a", "b", 1).unwrap_err().status(), 422);
        assert_eq!(
            drain_region(TABLES, "mars", &Drained::new()).unwrap_err(),
            EditError::UnknownRegion("mars".into())
        );
    }

    #[test]
    fn drain_then_restore_puts_the_weights_back() {
        let (drained_text, drained) = drain_region(TABLES, "us-east", &Drained::new()).unwrap();
        let weights_now = weights(&drained_text).unwrap();
        assert_eq!(weights_now[&("app".into(), "us-east".into())], 0);
        assert_eq!(weights_now[&("api".into(), "us-east".into())], 0);
        assert_eq!(weights_now[&("app".into(), "eu-west".into())], 100);
        assert_eq!(drained["us-east"]["app"], 80);
        assert_eq!(
            drain_region(&drained_text, "us-east", &drained).unwrap_err(),
            EditError::AlreadyDrained("us-east".into())
        );
        let (both_text, both) = drain_region(&drained_text, "eu-west", &drained).unwrap();
        let (text, left, gone) = restore_region(&both_text, "us-east", &both).unwrap();
        assert!(gone.is_empty());
        assert_eq!(left.keys().collect::<Vec<_>>(), vec!["eu-west"]);
        let (text, left, _) = restore_region(&text, "eu-west", &left).unwrap();
        assert!(left.is_empty());
        // eu-west had no weight key: it comes back written as 100.
        let expected = TABLES.replace(
            "endpoints = [\"127.0.0.1:2\"]\n",
            "endpoints = [\"127.0.0.1:2\"]\nweight = 100\n",
        );
        assert_eq!(text, expected);
        assert_eq!(
            restore_region(&text, "us-east", &left).unwrap_err(),
            EditError::NotDrained("us-east".into())
        );
    }

    #[test]
    fn restore_skips_pools_removed_since_the_drain() {
        let (_, drained) = drain_region(TABLES, "us-east", &Drained::new()).unwrap();
        let without_api = TABLES.split("[upstreams.api]").next().unwrap().to_string();
        let (text, _, gone) = restore_region(&without_api, "us-east", &drained).unwrap();
        assert_eq!(gone, vec!["api/us-east".to_string()]);
        assert_eq!(
            weights(&text).unwrap()[&("app".into(), "us-east".into())],
            80
        );
    }
}
