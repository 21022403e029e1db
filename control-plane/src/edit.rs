//! Edits to the fleet config's TOML text that keep the operator's formatting and comments: set one
//! pool's weight or a DNS name's members' weight in one region, drain a region (weight 0 on its pools and on its `[dns]` members, remembering
//! what they had) and restore it, drain or restore one endpoint (its address in its pools'
//! `drained` lists).
//! Everything not edited is kept byte for byte. An edit that cannot be made (the text is not TOML,
//! an upstream, pool or region does not exist, a drain is in the wrong state) fails with an
//! [`EditError`] naming what to fix, and no text is returned. Whether the result is a valid fleet
//! config is not checked here: the caller validates it like any other change.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use toml_edit::{Decor, DocumentMut, InlineTable, Item, Key, RawString, Table, Value};
use weir_config::join_key;
use weir_protocol::api::Drained;

// The config's own bounds, named short for the messages below.
const DEFAULT_WEIGHT: u32 = weir_config::Pool::DEFAULT_WEIGHT;
const MAX_WEIGHT: u32 = weir_config::Pool::MAX_WEIGHT;

/// Pool weights by (upstream, region).
pub type Weights = BTreeMap<(String, String), u32>;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// The text does not parse as TOML.
    #[error("the config is not valid TOML: {}", .0.trim_end())]
    Syntax(String),
    #[error("there is no upstream {upstream:?}; the config's upstreams: {}", list(.known))]
    UnknownUpstream {
        upstream: String,
        /// The upstreams the config has.
        known: Vec<String>,
    },
    #[error("upstream {upstream:?} has no pool in region {region:?}; its pools: {}", list(.known))]
    UnknownPool {
        upstream: String,
        region: String,
        /// The regions the upstream has pools in.
        known: Vec<String>,
    },
    /// No upstream has a pool in the region.
    #[error("no upstream has a pool in region {region:?}; regions with pools: {}", list(.known))]
    UnknownRegion {
        region: String,
        /// Every region some upstream has a pool in.
        known: Vec<String>,
    },
    #[error("there is no DNS name {name:?} under [dns.names]; the config's names: {}", list(.known))]
    UnknownDnsName {
        name: String,
        /// The names the config has.
        known: Vec<String>,
    },
    #[error("DNS name {name:?} has no member in region {region:?}; its members' regions: {}", list(.known))]
    UnknownMember {
        name: String,
        region: String,
        /// The regions the name has members in.
        known: Vec<String>,
    },
    #[error("weight {0} is out of range: use 0..={MAX_WEIGHT} (0 drains the pool)")]
    WeightOutOfRange(u32),
    #[error("region {0:?} is already drained: restore it before draining it again")]
    AlreadyDrained(String),
    /// No pool (of the upstream, when one is named) lists the endpoint.
    #[error("no pool{} lists endpoint {addr}", .upstream.as_ref().map(|u| format!(" of upstream {u:?}")).unwrap_or_default())]
    UnknownEndpoint {
        addr: SocketAddr,
        upstream: Option<String>,
    },
    #[error("endpoint {0} is already drained everywhere it is listed")]
    EndpointAlreadyDrained(SocketAddr),
    #[error("endpoint {0} is not drained anywhere it is listed, so there is nothing to restore")]
    EndpointNotDrained(SocketAddr),
    #[error(
        "region {0:?} is not drained, so there are no weights to restore: set pool weights one by \
         one instead"
    )]
    NotDrained(String),
    /// The text is TOML but not shaped like a fleet config where the edit needs it (e.g. `pools`
    /// is not an array of tables).
    #[error("the config cannot be edited: {0}")]
    Malformed(String),
}

impl EditError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            EditError::UnknownUpstream { .. }
            | EditError::UnknownPool { .. }
            | EditError::UnknownRegion { .. }
            | EditError::UnknownDnsName { .. }
            | EditError::UnknownMember { .. }
            | EditError::UnknownEndpoint { .. } => 404,
            EditError::AlreadyDrained(_)
            | EditError::NotDrained(_)
            | EditError::EndpointAlreadyDrained(_)
            | EditError::EndpointNotDrained(_) => 409,
            EditError::Syntax(_) | EditError::WeightOutOfRange(_) | EditError::Malformed(_) => 422,
        }
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Sets the weight of `upstream`'s pool in `region`. Returns the new text and the previous weight
/// ([`weir_config::Pool::DEFAULT_WEIGHT`] when the key was absent; it is then added right after
/// `region`). Setting the weight a pool already has returns the text unchanged.
pub fn set_weight(
    text: &str,
    upstream: &str,
    region: &str,
    weight: u32,
) -> Result<(String, u32), EditError> {
    if weight > MAX_WEIGHT {
        return Err(EditError::WeightOutOfRange(weight));
    }
    let mut doc = parse(text)?;
    let previous = {
        let mut upstreams = read_upstreams(&mut doc)?;
        let known: Vec<String> = upstreams.iter().map(|u| u.name.clone()).collect();
        let Some(found) = upstreams.iter_mut().find(|u| u.name == upstream) else {
            return Err(EditError::UnknownUpstream {
                upstream: upstream.to_owned(),
                known,
            });
        };
        let regions = found.regions();
        let Some(pool) = found.pool_mut(region) else {
            return Err(EditError::UnknownPool {
                upstream: upstream.to_owned(),
                region: region.to_owned(),
                known: regions,
            });
        };
        let previous = pool.weight();
        pool.set_weight(weight);
        previous
    };
    Ok((doc.to_string(), previous))
}

/// Sets the weight of every member of DNS name `name` in `region` (a name may list several
/// there). Returns the new text, the previous weight (the first such member's) and the keys a
/// drain of `region` remembers these members by. The same weight again returns the text
/// unchanged.
pub fn set_member_weight(
    text: &str,
    name: &str,
    region: &str,
    weight: u32,
) -> Result<(String, u32, Vec<String>), EditError> {
    if weight > MAX_WEIGHT {
        return Err(EditError::WeightOutOfRange(weight));
    }
    let mut doc = parse(text)?;
    let (previous, keys) = {
        let mut names = read_dns_members(&mut doc)?;
        let known: Vec<String> = names.iter().map(|n| n.name.clone()).collect();
        let Some(found) = names.iter_mut().find(|n| n.name == name) else {
            return Err(EditError::UnknownDnsName {
                name: name.to_owned(),
                known,
            });
        };
        let mut regions = found.regions();
        regions.sort();
        regions.dedup();
        let mut members = found.in_region(region);
        let Some(previous) = members.first().map(|(_, member)| member.weight()) else {
            return Err(EditError::UnknownMember {
                name: name.to_owned(),
                region: region.to_owned(),
                known: regions,
            });
        };
        let mut keys = Vec::new();
        for (key, member) in &mut members {
            if member.weight() != weight {
                member.set_weight(weight);
            }
            keys.push(std::mem::take(key));
        }
        (previous, keys)
    };
    Ok((doc.to_string(), previous, keys))
}

/// Sets weight 0 on every pool in `region`, in every upstream, and on every `[dns]` member in
/// `region`, and returns the new text with `drained` plus this region's entry: each drained
/// upstream and the weight its pool had (a pool already at 0 is remembered as 0), and each DNS
/// member as `dns:NAME` (`dns:NAME#2` for a name's third member in the region) with its weight.
pub fn drain_region(
    text: &str,
    region: &str,
    drained: &Drained,
) -> Result<(String, Drained), EditError> {
    if drained.contains_key(region) {
        return Err(EditError::AlreadyDrained(region.to_owned()));
    }
    let mut doc = parse(text)?;
    let remembered = {
        let mut upstreams = read_upstreams(&mut doc)?;
        let mut remembered = BTreeMap::new();
        for upstream in &mut upstreams {
            let name = upstream.name.clone();
            if let Some(pool) = upstream.pool_mut(region) {
                remembered.insert(name, pool.weight());
                pool.set_weight(0);
            }
        }
        let mut known: BTreeSet<String> = upstreams.iter().flat_map(Upstream::regions).collect();
        drop(upstreams);
        for name in &mut read_dns_members(&mut doc)? {
            known.extend(name.regions());
            for (key, member) in name.in_region(region) {
                remembered.insert(key, member.weight());
                member.set_weight(0);
            }
        }
        if remembered.is_empty() {
            return Err(EditError::UnknownRegion {
                region: region.to_owned(),
                known: known.into_iter().collect(),
            });
        }
        remembered
    };
    let mut drained = drained.clone();
    drained.insert(region.to_owned(), remembered);
    Ok((doc.to_string(), drained))
}

/// Puts back the weights `drained` remembers for `region` and returns the new text, `drained`
/// without the region, and the pools that are gone since the drain (`"upstream/region"`, their
/// upstream or pool was removed), which are skipped. Pools in the region that were not drained
/// (added since) are left alone; a drained pool whose weight was changed since gets the remembered
/// weight. A pool that had no `weight` key before the drain got `weight = 0` added and now keeps
/// an explicit `weight = 100`: the same weight as before, one line more than the original text.
pub fn restore_region(
    text: &str,
    region: &str,
    drained: &Drained,
) -> Result<(String, Drained, Vec<String>), EditError> {
    let Some(remembered) = drained.get(region) else {
        return Err(EditError::NotDrained(region.to_owned()));
    };
    if let Some(&weight) = remembered.values().find(|&&w| w > MAX_WEIGHT) {
        return Err(EditError::WeightOutOfRange(weight));
    }
    let mut doc = parse(text)?;
    let skipped = {
        let mut upstreams = read_upstreams(&mut doc)?;
        let mut skipped = Vec::new();
        for (name, &weight) in remembered.iter().filter(|(name, _)| !is_member_key(name)) {
            let pool = upstreams
                .iter_mut()
                .find(|u| u.name == *name)
                .and_then(|u| u.pool_mut(region));
            match pool {
                Some(pool) => pool.set_weight(weight),
                None => skipped.push(format!("{name}/{region}")),
            }
        }
        drop(upstreams);
        let mut names = read_dns_members(&mut doc)?;
        for (key, &weight) in remembered.iter().filter(|(name, _)| is_member_key(name)) {
            let member = names
                .iter_mut()
                .flat_map(|name| name.in_region(region))
                .find(|(k, _)| k == key);
            match member {
                Some((_, member)) => member.set_weight(weight),
                None => skipped.push(format!("{key}/{region}")),
            }
        }
        skipped
    };
    let mut drained = drained.clone();
    drained.remove(region);
    Ok((doc.to_string(), drained, skipped))
}

/// Drains (`drain = true`) or restores endpoint `addr` in every pool that lists it (only the
/// pools of `upstream` when given): its address is added to, or removed from, the pool's
/// `drained` list (the key is added at the end of the pool, and removed when it empties). Returns
/// the new text and the pools changed (`"upstream/region"`). Endpoints are compared as addresses,
/// so `"[::1]:80"` and `"[0:0::1]:80"` are the same endpoint.
pub fn set_endpoint_drained(
    text: &str,
    addr: SocketAddr,
    upstream: Option<&str>,
    drain: bool,
) -> Result<(String, Vec<String>), EditError> {
    let mut doc = parse(text)?;
    let changed = {
        let mut upstreams = read_upstreams(&mut doc)?;
        if let Some(name) = upstream
            && !upstreams.iter().any(|u| u.name == name)
        {
            return Err(EditError::UnknownUpstream {
                upstream: name.to_owned(),
                known: upstreams.iter().map(|u| u.name.clone()).collect(),
            });
        }
        let mut listed = false;
        let mut changed = Vec::new();
        for up in upstreams
            .iter_mut()
            .filter(|u| upstream.is_none_or(|name| u.name == name))
        {
            let name = up.name.clone();
            for pool in &mut up.pools {
                if !pool.lists(addr) {
                    continue;
                }
                listed = true;
                if pool.set_drained(addr, drain) {
                    changed.push(format!("{name}/{}", pool.region));
                }
            }
        }
        if !listed {
            return Err(EditError::UnknownEndpoint {
                addr,
                upstream: upstream.map(str::to_owned),
            });
        }
        if changed.is_empty() {
            return Err(if drain {
                EditError::EndpointAlreadyDrained(addr)
            } else {
                EditError::EndpointNotDrained(addr)
            });
        }
        changed
    };
    Ok((doc.to_string(), changed))
}

/// Every pool's weight by (upstream, region), [`weir_config::Pool::DEFAULT_WEIGHT`] where the key
/// is absent.
pub fn weights(text: &str) -> Result<Weights, EditError> {
    let mut doc = parse(text)?;
    let upstreams = read_upstreams(&mut doc)?;
    Ok(upstreams
        .iter()
        .flat_map(|u| {
            u.pools
                .iter()
                .map(|p| ((u.name.clone(), p.region.clone()), p.weight()))
        })
        .collect())
}

fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>()
        .map_err(|e| EditError::Syntax(e.to_string()))
}

/// One upstream as written, its pools borrowed from the document for editing.
struct Upstream<'a> {
    name: String,
    pools: Vec<Pool<'a>>,
}

impl<'a> Upstream<'a> {
    fn regions(&self) -> Vec<String> {
        self.pools.iter().map(|p| p.region.clone()).collect()
    }

    fn pool_mut(&mut self, region: &str) -> Option<&mut Pool<'a>> {
        self.pools.iter_mut().find(|p| p.region == region)
    }
}

struct Pool<'a> {
    region: String,
    /// As written; `None` when the key is absent.
    written: Option<u32>,
    body: PoolBody<'a>,
}

/// A pool written as `[[upstreams.NAME.pools]]` or as an inline table in `pools = [...]`.
enum PoolBody<'a> {
    Table(&'a mut Table),
    Inline(&'a mut InlineTable),
}

const REGION: &str = "region";
const WEIGHT: &str = "weight";
const ENDPOINTS: &str = "endpoints";
const DRAINED: &str = "drained";

/// The addresses in an array of strings (what does not parse is skipped: validation reports it).
fn addresses(item: Option<&Item>) -> Vec<SocketAddr> {
    item.and_then(Item::as_array)
        .map(|array| {
            array
                .iter()
                .filter_map(|v| v.as_str()?.parse::<SocketAddr>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the upstreams and their pools; `Malformed` if any is not shaped as documented, a pool has
/// no region, a weight is not an integer in `0..=u32::MAX`, or two pools of an upstream share a
/// region. No `[upstreams]` at all is no upstreams.
fn read_upstreams(doc: &mut DocumentMut) -> Result<Vec<Upstream<'_>>, EditError> {
    let Some(item) = doc.get_mut("upstreams") else {
        return Ok(Vec::new());
    };
    let table = item.as_table_like_mut().ok_or_else(|| {
        EditError::Malformed("`upstreams` must be a table of upstreams by name".to_owned())
    })?;
    let mut upstreams = Vec::new();
    for (key, item) in table.iter_mut() {
        let name = key.get().to_owned();
        let path = join_key("upstreams", &name);
        let upstream = item.as_table_like_mut().ok_or_else(|| {
            EditError::Malformed(format!("`{path}` must be a table (`[{path}]`)"))
        })?;
        let pools = match upstream.get_mut("pools") {
            Some(pools) => read_pools(pools, &join_key(&path, "pools"))?,
            None => Vec::new(),
        };
        upstreams.push(Upstream { name, pools });
    }
    Ok(upstreams)
}

/// What a drained DNS member is remembered as: `dns:` and its name (`:` is in no upstream name).
const MEMBER_KEY: &str = "dns:";

/// Whether a drained region's entry `key` is a DNS member's (else it is an upstream's pool).
pub fn is_member_key(key: &str) -> bool {
    key.starts_with(MEMBER_KEY)
}

/// Reads the members of every `[dns.names]` name, each name as an [`Upstream`] of its members
/// (regions may repeat). No `[dns]` is no names.
fn read_dns_members(doc: &mut DocumentMut) -> Result<Vec<Upstream<'_>>, EditError> {
    let Some(names) = doc
        .get_mut("dns")
        .and_then(Item::as_table_like_mut)
        .and_then(|dns| dns.get_mut("names"))
    else {
        return Ok(Vec::new());
    };
    let names = names
        .as_table_like_mut()
        .ok_or_else(|| EditError::Malformed("`dns.names` must be a table of names".to_owned()))?;
    let mut out = Vec::new();
    for (key, item) in names.iter_mut() {
        let name = key.get().to_owned();
        let path = join_key("dns.names", &name);
        let table = item.as_table_like_mut().ok_or_else(|| {
            EditError::Malformed(format!("`{path}` must be a table (`[{path}]`)"))
        })?;
        let pools = match table.get_mut("members") {
            Some(members) => read_bodies(members, &join_key(&path, "members"))?,
            None => Vec::new(),
        };
        out.push(Upstream { name, pools });
    }
    Ok(out)
}

impl<'a> Upstream<'a> {
    /// A DNS name's members in `region`, each with the key it is remembered by when drained.
    fn in_region(&mut self, region: &str) -> Vec<(String, &mut Pool<'a>)> {
        let base = format!("{MEMBER_KEY}{}", self.name);
        self.pools
            .iter_mut()
            .filter(|member| member.region == region)
            .enumerate()
            .map(|(i, member)| match i {
                0 => (base.clone(), member),
                i => (format!("{base}#{i}"), member),
            })
            .collect()
    }
}

fn read_pools<'a>(item: &'a mut Item, path: &str) -> Result<Vec<Pool<'a>>, EditError> {
    let pools = read_bodies(item, path)?;
    for (i, pool) in pools.iter().enumerate() {
        if let Some(first) = pools[..i].iter().position(|p| p.region == pool.region) {
            return Err(EditError::Malformed(format!(
                "`{path}[{i}]` is in region {:?} like `{path}[{first}]`; which pool to edit is \
                 ambiguous",
                pool.region
            )));
        }
    }
    Ok(pools)
}

/// Reads an array of pools (or DNS members: the same `region` and `weight` keys) in either
/// spelling.
fn read_bodies<'a>(item: &'a mut Item, path: &str) -> Result<Vec<Pool<'a>>, EditError> {
    let bodies: Vec<PoolBody<'a>> = match item {
        Item::ArrayOfTables(array) => array.iter_mut().map(PoolBody::Table).collect(),
        Item::Value(Value::Array(array)) => array
            .iter_mut()
            .enumerate()
            .map(|(i, value)| match value {
                Value::InlineTable(table) => Ok(PoolBody::Inline(table)),
                other => Err(EditError::Malformed(format!(
                    "`{path}[{i}]` must be a table such as {{ region = \"us-east\", endpoints = \
                     [...] }}, not {}",
                    other.type_name()
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(EditError::Malformed(format!(
                "`{path}` must be an array of pools (`[[{path}]]` or `pools = [{{ ... }}]`), not \
                 {}",
                other.type_name()
            )));
        }
    };
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| Pool::read(body, &format!("{path}[{i}]")))
        .collect()
}

impl<'a> Pool<'a> {
    fn read(body: PoolBody<'a>, path: &str) -> Result<Pool<'a>, EditError> {
        let region = match body.get(REGION) {
            Some(Item::Value(Value::String(region))) => region.value().clone(),
            Some(_) => {
                return Err(EditError::Malformed(format!(
                    "`{}` must be a string",
                    join_key(path, REGION)
                )));
            }
            None => {
                return Err(EditError::Malformed(format!(
                    "`{path}` has no `region` key"
                )));
            }
        };
        let written = match body.get(WEIGHT) {
            Some(Item::Value(Value::Integer(weight))) => {
                Some(u32::try_from(*weight.value()).map_err(|_| {
                    EditError::Malformed(format!(
                        "`{}` is {}; it must be in 0..={MAX_WEIGHT}",
                        join_key(path, WEIGHT),
                        weight.value()
                    ))
                })?)
            }
            Some(_) => {
                return Err(EditError::Malformed(format!(
                    "`{}` must be an integer in 0..={MAX_WEIGHT}",
                    join_key(path, WEIGHT)
                )));
            }
            None => None,
        };
        Ok(Pool {
            region,
            written,
            body,
        })
    }

    fn weight(&self) -> u32 {
        self.written.unwrap_or(DEFAULT_WEIGHT)
    }

    /// Writes `weight`: the value is replaced in place (its spacing and trailing comment kept), or
    /// the key is added right after `region`, formatted like it. A pool that already has `weight`
    /// (written, or the default where the key is absent) is left as it is.
    fn set_weight(&mut self, weight: u32) {
        if self.weight() == weight {
            return;
        }
        self.written = Some(weight);
        let new = Value::from(i64::from(weight));
        match &mut self.body {
            PoolBody::Table(table) => match table.get_mut(WEIGHT) {
                Some(Item::Value(value)) => replace_keeping_decor(value, new),
                _ => insert_into_table(table, new),
            },
            PoolBody::Inline(table) => match table.get_mut(WEIGHT) {
                Some(value) => replace_keeping_decor(value, new),
                None => insert_into_inline(table, new),
            },
        }
    }
}

impl PoolBody<'_> {
    fn get(&self, key: &str) -> Option<&Item> {
        match self {
            PoolBody::Table(table) => table.get(key),
            PoolBody::Inline(table) => table.get_key_value(key).map(|(_, item)| item),
        }
    }

    fn array_mut(&mut self, key: &str) -> Option<&mut toml_edit::Array> {
        match self {
            PoolBody::Table(table) => table.get_mut(key).and_then(Item::as_array_mut),
            PoolBody::Inline(table) => table.get_mut(key).and_then(Value::as_array_mut),
        }
    }

    fn insert_array(&mut self, key: &str, array: toml_edit::Array) {
        match self {
            PoolBody::Table(table) => {
                table.insert(key, Item::Value(Value::Array(array)));
            }
            PoolBody::Inline(table) => {
                table.insert(key, Value::Array(array));
            }
        }
    }

    fn remove(&mut self, key: &str) {
        match self {
            PoolBody::Table(table) => {
                table.remove(key);
            }
            PoolBody::Inline(table) => {
                table.remove(key);
            }
        }
    }
}

impl Pool<'_> {
    /// Whether the pool's `endpoints` list `addr`.
    fn lists(&self, addr: SocketAddr) -> bool {
        addresses(self.body.get(ENDPOINTS)).contains(&addr)
    }

    /// Adds `addr` to `drained` (`drain`) or removes it; whether the text changed.
    fn set_drained(&mut self, addr: SocketAddr, drain: bool) -> bool {
        let is_drained = addresses(self.body.get(DRAINED)).contains(&addr);
        if is_drained == drain {
            return false;
        }
        // Written as the endpoint is written in `endpoints`.
        let written = self
            .body
            .get(ENDPOINTS)
            .and_then(Item::as_array)
            .and_then(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .find(|t| t.parse::<SocketAddr>().ok() == Some(addr))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| addr.to_string());
        if drain {
            match self.body.array_mut(DRAINED) {
                Some(array) => array.push(written),
                None => {
                    let mut array = toml_edit::Array::new();
                    array.push(written);
                    self.body.insert_array(DRAINED, array);
                }
            }
        } else {
            let empty = match self.body.array_mut(DRAINED) {
                Some(array) => {
                    array.retain(|v| {
                        v.as_str().and_then(|t| t.parse::<SocketAddr>().ok()) != Some(addr)
                    });
                    array.is_empty()
                }
                None => false,
            };
            if empty {
                self.body.remove(DRAINED);
            }
        }
        true
    }
}

fn replace_keeping_decor(value: &mut Value, mut new: Value) {
    *new.decor_mut() = value.decor().clone();
    *value = new;
}

fn raw(raw: Option<&RawString>) -> Option<&str> {
    raw.and_then(RawString::as_str)
}

/// Sets the parts of `decor` that are given; the others keep toml_edit's default.
fn set_decor(decor: &mut Decor, prefix: Option<String>, suffix: Option<String>) {
    if let Some(prefix) = prefix {
        decor.set_prefix(prefix);
    }
    if let Some(suffix) = suffix {
        decor.set_suffix(suffix);
    }
}

/// A `[[...pools]]` table: `weight = N` on the line after `region`, indented and spaced like it
/// (`weight` and `region` have the same length, so aligned `=` stay aligned). Comments above
/// `region` are not copied.
fn insert_into_table(table: &mut Table, mut value: Value) {
    let mut key = Key::new(WEIGHT);
    if let Some((region_key, Item::Value(region))) = table.get_key_value(REGION) {
        let indent = raw(region_key.leaf_decor().prefix())
            .map(|prefix| prefix.rsplit('\n').next().unwrap_or_default().to_owned());
        let before_eq = raw(region_key.leaf_decor().suffix()).map(str::to_owned);
        set_decor(key.leaf_decor_mut(), indent, before_eq);
        let after_eq = raw(region.decor().prefix()).map(str::to_owned);
        set_decor(value.decor_mut(), after_eq, None);
    }
    let names: Vec<String> = table.iter().map(|(name, _)| name.to_owned()).collect();
    let after_region = names.iter().position(|n| n == REGION).map_or(0, |i| i + 1);
    let moved: Vec<(Key, Item)> = names[after_region..]
        .iter()
        .filter_map(|name| table.remove_entry(name))
        .collect();
    table.insert_formatted(&key, Item::Value(value));
    for (key, item) in moved {
        table.insert_formatted(&key, item);
    }
}

/// An inline pool table: `weight = N` right after `region`, spaced like the key that follows
/// `region` (or like `region` when it is the last key). In a table written over several lines,
/// `weight` gets a line of its own; a comment at the end of `region`'s line stays there and
/// comment lines above the next key stay above it.
fn insert_into_inline(table: &mut InlineTable, mut value: Value) {
    let names: Vec<String> = table.iter().map(|(name, _)| name.to_owned()).collect();
    let region_at = names.iter().position(|n| n == REGION);
    let after_region = region_at.map_or(names.len(), |i| i + 1);
    let mut moved: Vec<(Key, Value)> = names[after_region..]
        .iter()
        .filter_map(|name| table.remove_entry(name))
        .collect();
    let mut key = Key::new(WEIGHT);
    if region_at.is_some() {
        let (region_key, region) = table
            .get_key_value_mut(REGION)
            .map(|(k, item)| (Some(k), item.as_value_mut()))
            .unwrap_or((None, None));
        let (region_prefix, before_eq) = match &region_key {
            Some(k) => (
                raw(k.leaf_decor().prefix()).map(str::to_owned),
                raw(k.leaf_decor().suffix()).map(str::to_owned),
            ),
            None => (None, None),
        };
        let prefix = match moved.first_mut() {
            // Between `region`'s comma and the next key: the rest of `region`'s line is the new
            // key's, what is above the next key stays the next key's.
            Some((next, _)) => match raw(next.leaf_decor().prefix()).map(str::to_owned) {
                Some(between) => {
                    let (mine, theirs) = split_after_line(&between);
                    next.leaf_decor_mut().set_prefix(theirs);
                    Some(mine)
                }
                None => None,
            },
            None => region_prefix.map(|prefix| match prefix.rfind('\n') {
                Some(newline) => prefix[newline..].to_owned(),
                None => prefix,
            }),
        };
        set_decor(key.leaf_decor_mut(), prefix, before_eq);
        if let Some(region) = region {
            let after_eq = raw(region.decor().prefix()).map(str::to_owned);
            let before_comma = raw(region.decor().suffix()).map(str::to_owned);
            set_decor(value.decor_mut(), after_eq, before_comma);
            if moved.is_empty() {
                // `region` was last: what stood before `}` moves to `weight`.
                region.decor_mut().set_suffix("");
            }
        }
    }
    table.insert_formatted(&key, value);
    for (key, value) in moved {
        table.insert_formatted(&key, value);
    }
}

/// Splits the text between two inline-table entries so a new entry fits between them: the new
/// entry's prefix (to the end of the first line, then the last line's indentation) and the second
/// entry's (the lines after the first). Without a line break both are the text as it is.
fn split_after_line(between: &str) -> (String, String) {
    match (between.find('\n'), between.rfind('\n')) {
        (Some(first), Some(last)) => (
            format!("{}{}", &between[..first], &between[last..]),
            between[first..].to_owned(),
        ),
        _ => (between.to_owned(), between.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two upstreams, one per pool syntax, with comments, odd spacing and an absent weight.
    const FLEET: &str = r#"# Fleet config (comments must survive edits).

[upstreams.app]
region_policy = "weighted"   # split by weight
health = { path = "/healthz" }

# Primary region.
[[upstreams.app.pools]]
region = "us-east"
weight   =   60   # most traffic
endpoints = ["10.0.1.10:9000", "10.0.1.11:9000"]

[[upstreams.app.pools]]
# Secondary; weight left to its default.
region = "eu-west"
endpoints = ["10.1.1.10:9000"]

[upstreams.api]
pools = [
  { region = "us-east", weight = 50, endpoints = ["10.0.2.10:9000"] }, # east
  { region = "eu-west", weight = 50 , endpoints = ["10.1.2.10:9000"] },
  { region = "ap-south", endpoints = ["10.2.2.10:9000"] },
]

[[routes]]
upstream = "app"
"#;

    fn weight_of(text: &str, upstream: &str, region: &str) -> u32 {
        weights(text).unwrap()[&(upstream.to_owned(), region.to_owned())]
    }

    fn drained(entries: &[(&str, &[(&str, u32)])]) -> Drained {
        entries
            .iter()
            .map(|(region, pools)| {
                let pools = pools.iter().map(|(u, w)| ((*u).to_owned(), *w)).collect();
                ((*region).to_owned(), pools)
            })
            .collect()
    }

    #[test]
    fn weights_reads_both_syntaxes_and_defaults_absent_weights() {
        let all = weights(FLEET).unwrap();
        let expected: Weights = [
            ("app", "us-east", 60),
            ("app", "eu-west", 100),
            ("api", "us-east", 50),
            ("api", "eu-west", 50),
            ("api", "ap-south", 100),
        ]
        .into_iter()
        .map(|(u, r, w)| ((u.to_owned(), r.to_owned()), w))
        .collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn set_weight_in_table_pool_keeps_spacing_comment_and_everything_else() {
        let (text, previous) = set_weight(FLEET, "app", "us-east", 5).unwrap();
        assert_eq!(previous, 60);
        assert_eq!(
            text,
            FLEET.replace(
                "weight   =   60   # most traffic",
                "weight   =   5   # most traffic"
            )
        );
    }

    #[test]
    fn set_weight_in_inline_pool_keeps_everything_else() {
        let (text, previous) = set_weight(FLEET, "api", "eu-west", 0).unwrap();
        assert_eq!(previous, 50);
        assert_eq!(
            text,
            FLEET.replace(
                r#"region = "eu-west", weight = 50 , endpoints"#,
                r#"region = "eu-west", weight = 0 , endpoints"#
            )
        );
    }

    #[test]
    fn absent_weight_is_added_after_region_in_a_table_pool() {
        let (text, previous) = set_weight(FLEET, "app", "eu-west", 10).unwrap();
        assert_eq!(previous, DEFAULT_WEIGHT);
        assert_eq!(
            text,
            FLEET.replace(
                "region = \"eu-west\"\nendpoints = [\"10.1.1.10:9000\"]",
                "region = \"eu-west\"\nweight = 10\nendpoints = [\"10.1.1.10:9000\"]"
            )
        );
        assert_eq!(weight_of(&text, "app", "eu-west"), 10);
    }

    #[test]
    fn absent_weight_is_added_after_region_in_an_inline_pool() {
        let (text, previous) = set_weight(FLEET, "api", "ap-south", 20).unwrap();
        assert_eq!(previous, DEFAULT_WEIGHT);
        assert_eq!(
            text,
            FLEET.replace(
                r#"{ region = "ap-south", endpoints"#,
                r#"{ region = "ap-south", weight = 20, endpoints"#
            )
        );
    }

    #[test]
    fn added_weight_follows_the_pools_own_layout() {
        let cases = [
            // Indented and aligned table keys; the comment above `region` is not copied.
            (
                "[[upstreams.a.pools]]\n  # east\n  region    = \"us-east\" # here\n  endpoints = []\n",
                "[[upstreams.a.pools]]\n  # east\n  region    = \"us-east\" # here\n  weight    = 0\n  endpoints = []\n",
            ),
            // `region` last in a table.
            (
                "[[upstreams.a.pools]]\nendpoints = []\nregion = \"us-east\"\n\n[x]\n",
                "[[upstreams.a.pools]]\nendpoints = []\nregion = \"us-east\"\nweight = 0\n\n[x]\n",
            ),
            // Compact inline table.
            (
                "upstreams.a.pools = [{region=\"us-east\",endpoints=[]}]\n",
                "upstreams.a.pools = [{region=\"us-east\",weight=0,endpoints=[]}]\n",
            ),
            // `region` last in an inline table.
            (
                "upstreams.a.pools = [{ endpoints = [], region = \"us-east\" }]\n",
                "upstreams.a.pools = [{ endpoints = [], region = \"us-east\", weight = 0 }]\n",
            ),
            // `region` alone.
            (
                "upstreams.a.pools = [{ region = \"us-east\" }]\n",
                "upstreams.a.pools = [{ region = \"us-east\", weight = 0 }]\n",
            ),
        ];
        for (before, after) in cases {
            let (text, previous) = set_weight(before, "a", "us-east", 0).unwrap();
            assert_eq!(previous, DEFAULT_WEIGHT);
            assert_eq!(text, after, "editing:\n{before}");
        }
    }

    #[test]
    fn upstreams_written_inline_or_dotted_are_found() {
        let inline = "[upstreams]\napp = { pools = [{ region = \"us-east\", weight = 1 }] }\n";
        let (text, previous) = set_weight(inline, "app", "us-east", 2).unwrap();
        assert_eq!(previous, 1);
        assert_eq!(text, inline.replace("weight = 1", "weight = 2"));

        let dotted = "upstreams.app.pools = [{ region = \"us-east\", weight = 1 }] # all\n";
        let (text, _) = set_weight(dotted, "app", "us-east", 2).unwrap();
        assert_eq!(text, dotted.replace("weight = 1", "weight = 2"));

        let quoted = "[[upstreams.\"api.v2\".pools]]\nregion = \"us-east\"\n";
        let (text, _) = set_weight(quoted, "api.v2", "us-east", 0).unwrap();
        assert_eq!(weight_of(&text, "api.v2", "us-east"), 0);
    }

    #[test]
    fn setting_the_same_weight_changes_nothing() {
        let (text, previous) = set_weight(FLEET, "app", "us-east", 60).unwrap();
        assert_eq!((text.as_str(), previous), (FLEET, 60));
        let (text, previous) = set_weight(FLEET, "app", "eu-west", 100).unwrap();
        assert_eq!((text.as_str(), previous), (FLEET, 100));
    }

    #[test]
    fn unknown_upstream_lists_the_upstreams() {
        let error = set_weight(FLEET, "web", "us-east", 0).unwrap_err();
        assert_eq!(
            error,
            EditError::UnknownUpstream {
                upstream: "web".into(),
                known: vec!["app".into(), "api".into()],
            }
        );
        assert_eq!(error.status(), 404);
        assert_eq!(
            error.to_string(),
            r#"there is no upstream "web"; the config's upstreams: app, api"#
        );
        let error = set_weight("", "web", "us-east", 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"there is no upstream "web"; the config's upstreams: none"#
        );
    }

    #[test]
    fn unknown_pool_lists_the_upstreams_regions() {
        let error = set_weight(FLEET, "app", "ap-south", 0).unwrap_err();
        assert_eq!(error.status(), 404);
        assert_eq!(
            error.to_string(),
            r#"upstream "app" has no pool in region "ap-south"; its pools: us-east, eu-west"#
        );
    }

    #[test]
    fn unknown_region_lists_the_regions_in_use() {
        let error = drain_region(FLEET, "sa-east", &Drained::new()).unwrap_err();
        assert_eq!(
            error,
            EditError::UnknownRegion {
                region: "sa-east".into(),
                known: vec!["ap-south".into(), "eu-west".into(), "us-east".into()],
            }
        );
        assert_eq!(error.status(), 404);
        assert_eq!(
            error.to_string(),
            r#"no upstream has a pool in region "sa-east"; regions with pools: ap-south, eu-west, us-east"#
        );
    }

    const WITH_DNS: &str = r#"[upstreams.app]
pools = [{ region = "us-east", endpoints = ["10.0.0.1:80"] }]

[dns]
zones = ["gslb.example.com"]

[dns.names."api.gslb.example.com"]
[[dns.names."api.gslb.example.com".members]]
region = "us-east" # primary
addresses = ["192.0.2.10"]
[[dns.names."api.gslb.example.com".members]]
region = "eu-west"
addresses = ["192.0.2.20"]
weight = 40
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.11"]
weight = 70

[dns.names."www.gslb.example.com"]
members = [{ region = "us-east", addresses = ["192.0.2.12"], weight = 5 }]
"#;

    #[test]
    fn a_region_drain_takes_its_dns_members_out_too_and_restore_puts_them_back() {
        let (text, map) = drain_region(WITH_DNS, "us-east", &Drained::new()).unwrap();
        let remembered: Vec<(&str, u32)> = map["us-east"]
            .iter()
            .map(|(k, w)| (k.as_str(), *w))
            .collect();
        assert_eq!(
            remembered,
            [
                ("app", 100),
                ("dns:api.gslb.example.com", 100),
                ("dns:api.gslb.example.com#1", 70),
                ("dns:www.gslb.example.com", 5),
            ]
        );
        assert!(
            text.contains("region = \"us-east\" # primary\nweight = 0\n"),
            "{text}"
        );
        assert!(text.contains("region = \"eu-west\"\naddresses = [\"192.0.2.20\"]\nweight = 40\n"));
        assert!(
            text.contains("addresses = [\"192.0.2.11\"]\nweight = 0\n"),
            "{text}"
        );
        assert!(
            text.contains("addresses = [\"192.0.2.12\"], weight = 0 }"),
            "{text}"
        );
        let (restored, map, skipped) = restore_region(&text, "us-east", &map).unwrap();
        assert!(skipped.is_empty() && map.is_empty());
        assert_eq!(
            restored,
            WITH_DNS
                .replace("# primary\n", "# primary\nweight = 100\n")
                .replace(
                    "\"us-east\", endpoints",
                    "\"us-east\", weight = 100, endpoints"
                ),
            "everything else byte for byte"
        );

        // A region with DNS members and no pools can be drained; an unknown one lists both kinds.
        let (text, map) = drain_region(WITH_DNS, "eu-west", &Drained::new()).unwrap();
        assert_eq!(map["eu-west"].len(), 1);
        assert!(text.contains("addresses = [\"192.0.2.20\"]\nweight = 0\n"));
        let (_, _, skipped) = restore_region(
            &text.replace("region = \"eu-west\"", "region = \"sa-east\""),
            "eu-west",
            &map,
        )
        .unwrap();
        assert_eq!(
            skipped,
            ["dns:api.gslb.example.com/eu-west"],
            "a member gone since is skipped"
        );
        let error = drain_region(WITH_DNS, "ap-south", &Drained::new()).unwrap_err();
        assert!(
            matches!(&error, EditError::UnknownRegion { known, .. } if known == &["eu-west", "us-east"]),
            "{error:?}"
        );
    }

    #[test]
    fn a_dns_names_members_in_a_region_get_the_weight_and_nothing_else_changes() {
        let (text, previous, keys) =
            set_member_weight(WITH_DNS, "api.gslb.example.com", "us-east", 30).unwrap();
        assert_eq!(previous, 100, "the first member had no weight key");
        assert_eq!(
            keys,
            ["dns:api.gslb.example.com", "dns:api.gslb.example.com#1"]
        );
        assert_eq!(
            text,
            WITH_DNS
                .replace("# primary\n", "# primary\nweight = 30\n")
                .replace(
                    "\"192.0.2.11\"]\nweight = 70",
                    "\"192.0.2.11\"]\nweight = 30"
                ),
            "everything else byte for byte"
        );
        let (same, previous, _) =
            set_member_weight(WITH_DNS, "api.gslb.example.com", "eu-west", 40).unwrap();
        assert_eq!((same.as_str(), previous), (WITH_DNS, 40));
        let (inline, ..) =
            set_member_weight(WITH_DNS, "www.gslb.example.com", "us-east", 0).unwrap();
        assert!(
            inline.contains("addresses = [\"192.0.2.12\"], weight = 0 }"),
            "{inline}"
        );

        let error = set_member_weight(WITH_DNS, "nope.gslb.example.com", "us-east", 1).unwrap_err();
        assert_eq!(error.status(), 404);
        assert!(
            matches!(&error, EditError::UnknownDnsName { known, .. } if known == &["api.gslb.example.com", "www.gslb.example.com"]),
            "{error:?}"
        );
        let error = set_member_weight(WITH_DNS, "www.gslb.example.com", "eu-west", 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"DNS name "www.gslb.example.com" has no member in region "eu-west"; its members' regions: us-east"#
        );
        assert_eq!(
            set_member_weight(WITH_DNS, "www.gslb.example.com", "us-east", 101).unwrap_err(),
            EditError::WeightOutOfRange(101)
        );
    }

    #[test]
    fn weight_out_of_range_is_rejected() {
        let error = set_weight(FLEET, "app", "us-east", 101).unwrap_err();
        assert_eq!(error, EditError::WeightOutOfRange(101));
        assert_eq!(error.status(), 422);
        assert_eq!(
            error.to_string(),
            "weight 101 is out of range: use 0..=100 (0 drains the pool)"
        );
        assert!(set_weight(FLEET, "app", "us-east", 100).is_ok());
    }

    #[test]
    fn text_that_is_not_toml_is_a_syntax_error() {
        let error = set_weight("[upstreams.app\n", "app", "us-east", 0).unwrap_err();
        assert!(matches!(error, EditError::Syntax(_)), "{error:?}");
        assert_eq!(error.status(), 422);
        assert!(
            error
                .to_string()
                .starts_with("the config is not valid TOML: "),
            "{error}"
        );
        assert!(matches!(weights("a = "), Err(EditError::Syntax(_))));
    }

    #[test]
    fn misshapen_configs_are_malformed() {
        let cases = [
            ("upstreams = 3\n", "`upstreams` must be a table"),
            ("[upstreams]\napp = 3\n", "`upstreams.app` must be a table"),
            (
                "[upstreams.app]\npools = 3\n",
                "`upstreams.app.pools` must be an array",
            ),
            (
                "[upstreams.app]\npools = [3]\n",
                "`upstreams.app.pools[0]` must be a table",
            ),
            (
                "[[upstreams.app.pools]]\nendpoints = []\n",
                "`upstreams.app.pools[0]` has no `region` key",
            ),
            (
                "[[upstreams.app.pools]]\nregion = 1\n",
                "`upstreams.app.pools[0].region` must be a string",
            ),
            (
                "[[upstreams.app.pools]]\nregion = \"x\"\nweight = \"50\"\n",
                "`upstreams.app.pools[0].weight` must be an integer",
            ),
            (
                "[[upstreams.app.pools]]\nregion = \"x\"\nweight = -1\n",
                "`upstreams.app.pools[0].weight` is -1",
            ),
            (
                "[[upstreams.\"a.b\".pools]]\nregion = \"x\"\n[[upstreams.\"a.b\".pools]]\nregion = \"x\"\n",
                "`upstreams.\"a.b\".pools[1]` is in region \"x\" like `upstreams.\"a.b\".pools[0]`",
            ),
        ];
        for (text, message) in cases {
            let error = weights(text).unwrap_err();
            assert!(
                matches!(error, EditError::Malformed(_)),
                "{text}: {error:?}"
            );
            assert_eq!(error.status(), 422);
            assert!(error.to_string().contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn drain_then_restore_gives_back_the_original_text() {
        let fleet = FLEET.replace(
            "{ region = \"ap-south\",",
            "{ region = \"ap-south\", weight = 7,",
        );
        let fleet = fleet.replace(
            "region = \"eu-west\"\nendpoints",
            "region = \"eu-west\"\nweight = 0\nendpoints",
        );
        let (drained_text, map) = drain_region(&fleet, "us-east", &Drained::new()).unwrap();
        assert_eq!(map, drained(&[("us-east", &[("api", 50), ("app", 60)])]));
        assert_eq!(weight_of(&drained_text, "app", "us-east"), 0);
        assert_eq!(weight_of(&drained_text, "api", "us-east"), 0);
        assert_eq!(weight_of(&drained_text, "api", "eu-west"), 50);
        assert!(drained_text.contains("weight   =   0   # most traffic"));

        let (restored, map, skipped) = restore_region(&drained_text, "us-east", &map).unwrap();
        assert_eq!(restored, fleet);
        assert!(map.is_empty());
        assert!(skipped.is_empty());

        // A pool already at 0 is remembered as 0 and stays 0.
        let (text, map) = drain_region(&fleet, "eu-west", &Drained::new()).unwrap();
        assert_eq!(map, drained(&[("eu-west", &[("api", 50), ("app", 0)])]));
        let (restored, _, _) = restore_region(&text, "eu-west", &map).unwrap();
        assert_eq!(restored, fleet);
    }

    #[test]
    fn restoring_a_pool_without_weight_key_writes_the_default() {
        let (text, map) = drain_region(FLEET, "eu-west", &Drained::new()).unwrap();
        assert_eq!(map, drained(&[("eu-west", &[("api", 50), ("app", 100)])]));
        let (restored, _, _) = restore_region(&text, "eu-west", &map).unwrap();
        assert_eq!(weights(&restored).unwrap(), weights(FLEET).unwrap());
        assert_eq!(
            restored,
            FLEET.replace(
                "region = \"eu-west\"\nendpoints",
                "region = \"eu-west\"\nweight = 100\nendpoints"
            )
        );
    }

    #[test]
    fn drain_two_regions_and_restore_one() {
        let (text, map) = drain_region(FLEET, "us-east", &Drained::new()).unwrap();
        let (text, map) = drain_region(&text, "ap-south", &map).unwrap();
        assert_eq!(
            map,
            drained(&[
                ("us-east", &[("api", 50), ("app", 60)]),
                ("ap-south", &[("api", 100)]),
            ])
        );
        assert_eq!(weight_of(&text, "api", "ap-south"), 0);

        let (text, map, skipped) = restore_region(&text, "us-east", &map).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(map, drained(&[("ap-south", &[("api", 100)])]));
        assert_eq!(weight_of(&text, "app", "us-east"), 60);
        assert_eq!(weight_of(&text, "api", "us-east"), 50);
        assert_eq!(weight_of(&text, "api", "ap-south"), 0);
        assert_eq!(weight_of(&text, "api", "eu-west"), 50);
    }

    #[test]
    fn restore_skips_pools_and_upstreams_removed_since_the_drain() {
        let (text, map) = drain_region(FLEET, "us-east", &Drained::new()).unwrap();
        // The operator removes app's us-east pool, and a drain map names an upstream that is gone.
        let text = text.replace(
            "# Primary region.\n[[upstreams.app.pools]]\nregion = \"us-east\"\nweight   =   0   # most traffic\nendpoints = [\"10.0.1.10:9000\", \"10.0.1.11:9000\"]\n\n",
            "",
        );
        assert!(
            !weights(&text)
                .unwrap()
                .contains_key(&("app".into(), "us-east".into()))
        );
        let mut map = map;
        map.get_mut("us-east").unwrap().insert("old".into(), 30);

        let (restored, map, skipped) = restore_region(&text, "us-east", &map).unwrap();
        assert_eq!(
            skipped,
            vec!["app/us-east".to_owned(), "old/us-east".to_owned()]
        );
        assert!(map.is_empty());
        assert_eq!(weight_of(&restored, "api", "us-east"), 50);
    }

    #[test]
    fn draining_twice_is_a_conflict() {
        let (text, map) = drain_region(FLEET, "us-east", &Drained::new()).unwrap();
        let error = drain_region(&text, "us-east", &map).unwrap_err();
        assert_eq!(error, EditError::AlreadyDrained("us-east".into()));
        assert_eq!(error.status(), 409);
        assert_eq!(
            error.to_string(),
            r#"region "us-east" is already drained: restore it before draining it again"#
        );
    }

    #[test]
    fn restoring_what_is_not_drained_is_a_conflict() {
        let map = drained(&[("us-east", &[("app", 60)])]);
        let error = restore_region(FLEET, "eu-west", &map).unwrap_err();
        assert_eq!(error, EditError::NotDrained("eu-west".into()));
        assert_eq!(error.status(), 409);
        assert!(
            error
                .to_string()
                .starts_with(r#"region "eu-west" is not drained"#)
        );
    }

    #[test]
    fn restore_rejects_a_remembered_weight_out_of_range() {
        let map = drained(&[("us-east", &[("app", 500)])]);
        assert_eq!(
            restore_region(FLEET, "us-east", &map).unwrap_err(),
            EditError::WeightOutOfRange(500)
        );
    }

    #[test]
    fn edited_configs_still_validate() {
        let fleet = format!("{FLEET}path_prefix = \"/\"\n");
        weir_config::parse_fleet(&fleet).unwrap();

        let (text, _) = set_weight(&fleet, "api", "ap-south", 0).unwrap();
        weir_config::parse_fleet(&text).unwrap();
        let (text, _) = set_weight(&text, "app", "eu-west", 0).unwrap();
        weir_config::parse_fleet(&text).unwrap();

        let (text, map) = drain_region(&fleet, "us-east", &Drained::new()).unwrap();
        weir_config::parse_fleet(&text).unwrap();
        let (text, _, _) = restore_region(&text, "us-east", &map).unwrap();
        assert_eq!(text, fleet);
    }

    #[test]
    fn multi_line_inline_pools_keep_their_layout() {
        let text = "[upstreams.app]\npools = [\n  {\n    region = \"us-east\", # east\n    # where\n    endpoints = [],\n  },\n]\n";
        let (edited, _) = set_weight(text, "app", "us-east", 0).unwrap();
        assert_eq!(
            edited,
            "[upstreams.app]\npools = [\n  {\n    region = \"us-east\", # east\n    weight = 0,\n    # where\n    endpoints = [],\n  },\n]\n"
        );
    }

    #[test]
    fn drain_and_restore_an_endpoint_keep_everything_else() {
        let addr: SocketAddr = "10.0.1.11:9000".parse().unwrap();
        let (text, pools) = set_endpoint_drained(FLEET, addr, None, true).unwrap();
        assert_eq!(pools, vec!["app/us-east".to_owned()]);
        assert_eq!(
            text,
            FLEET.replace(
                "endpoints = [\"10.0.1.10:9000\", \"10.0.1.11:9000\"]\n",
                "endpoints = [\"10.0.1.10:9000\", \"10.0.1.11:9000\"]\ndrained = [\"10.0.1.11:9000\"]\n"
            )
        );
        let config = weir_config::parse_fleet(&format!("{text}path_prefix = \"/\"\n")).unwrap();
        assert_eq!(
            config.fleet.upstreams["app"].pools[0].drained,
            vec![weir_config::Endpoint::Addr(addr)]
        );
        assert_eq!(
            set_endpoint_drained(&text, addr, None, true).unwrap_err(),
            EditError::EndpointAlreadyDrained(addr)
        );
        let (restored, pools) = set_endpoint_drained(&text, addr, None, false).unwrap();
        assert_eq!(pools, vec!["app/us-east".to_owned()]);
        assert_eq!(
            restored, FLEET,
            "restoring the only drained endpoint removes the key"
        );
        let error = set_endpoint_drained(FLEET, addr, None, false).unwrap_err();
        assert_eq!(error, EditError::EndpointNotDrained(addr));
        assert_eq!(error.status(), 409);
    }

    #[test]
    fn drain_an_endpoint_in_an_inline_pool_and_by_upstream() {
        let addr: SocketAddr = "10.1.2.10:9000".parse().unwrap();
        let (text, pools) = set_endpoint_drained(FLEET, addr, Some("api"), true).unwrap();
        assert_eq!(pools, vec!["api/eu-west".to_owned()]);
        assert!(
            text.contains(
                r#"{ region = "eu-west", weight = 50 , endpoints = ["10.1.2.10:9000"] , drained = ["10.1.2.10:9000"] }"#
            ),
            "{text}"
        );
        let error = set_endpoint_drained(FLEET, addr, Some("app"), true).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"no pool of upstream "app" lists endpoint 10.1.2.10:9000"#
        );
        assert_eq!(error.status(), 404);
        let error = set_endpoint_drained(FLEET, addr, Some("web"), true).unwrap_err();
        assert!(matches!(error, EditError::UnknownUpstream { .. }));
        let unknown: SocketAddr = "10.9.9.9:1".parse().unwrap();
        assert_eq!(
            set_endpoint_drained(FLEET, unknown, None, true).unwrap_err(),
            EditError::UnknownEndpoint {
                addr: unknown,
                upstream: None
            }
        );
    }
}
