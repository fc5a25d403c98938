//! Reading one `networking.k8s.io/v1` NetworkPolicy from its YAML value.
//!
//! Takes: a [`Manifest`] of that kind, written by anyone.
//! Gives: the policy as plain data with every default of the API server applied
//! (`policyTypes`, protocol `TCP`, an empty `from`/`to`/`ports` meaning "all"), or one
//! message naming the first field the API server would reject or that cannot be read.
//! Must not: panic on anything in the file, or guess: a field it does not know (a typo
//! such as `form:` would otherwise silently widen a rule to every peer), a value of the
//! wrong type or one the API server's validation refuses makes the whole object
//! unreadable rather than half-read.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::verify::value::{Mapping, Value};

use crate::verify::crd_value::At;
use crate::verify::world::{cidr_contains, Transport};
use crate::verify::{Manifest, ObjectRef};

/// One NetworkPolicy as Kubernetes applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NetPol {
    pub at: ObjectRef,
    pub namespace: String,
    /// `spec.podSelector`: the pods of `namespace` the policy applies to.
    pub pods: Selector,
    /// `Some` when the policy isolates its pods for ingress (`Ingress` in the
    /// effective `policyTypes`): the rules, possibly none.
    pub ingress: Option<Vec<Rule>>,
    /// The same for egress.
    pub egress: Option<Vec<Rule>>,
}

/// One ingress or egress rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    /// `from` / `to`; `None` when absent or empty: every peer, inside the cluster or not.
    pub peers: Option<Vec<Peer>>,
    /// `ports`; `None` when absent or empty: every port of every protocol.
    pub ports: Option<Vec<PortRule>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Peer {
    /// Pods matching `pods` in the namespaces matching `namespaces` (`None`: the
    /// policy's own namespace). `namespaceSelector` alone is `pods` = everything.
    Pods { namespaces: Option<Selector>, pods: Selector },
    /// Addresses in `cidr` but in none of `except`.
    IpBlock { cidr: String, except: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PortRule {
    pub protocol: Transport,
    pub port: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PortMatch {
    /// No `port`: every port of the protocol.
    Any,
    /// `port` (and `endPort`, else the same number), inclusive.
    Range(u16, u16),
    /// A named container port of the destination pod.
    Name(String),
}

/// A label selector: `matchLabels` AND every `matchExpressions` requirement. An empty
/// selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Selector {
    /// `matchLabels`, sorted by key: selectors come by the hundred thousand, and a
    /// list of a few pairs takes a fraction of a map's room.
    labels: Vec<(String, String)>,
    expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
    values: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl Selector {
    /// A label (key, value) every pod the selector matches carries, if any.
    pub fn required_label(&self) -> Option<(&str, &str)> {
        self.labels.first().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value the selector requires for `key`, if it requires one in `matchLabels`.
    pub fn required_value(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    Operator::In => value.is_some_and(|v| r.values.contains(v)),
                    // A pod without the key is "not in" any set (Kubernetes' semantics).
                    Operator::NotIn => !value.is_some_and(|v| r.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

type Read<T> = Result<T, String>;

const SPEC_FIELDS: [&str; 4] = ["podSelector", "policyTypes", "ingress", "egress"];
const SELECTOR_FIELDS: [&str; 2] = ["matchLabels", "matchExpressions"];
const REQUIREMENT_FIELDS: [&str; 3] = ["key", "operator", "values"];
const PEER_FIELDS: [&str; 3] = ["podSelector", "namespaceSelector", "ipBlock"];
const IP_BLOCK_FIELDS: [&str; 2] = ["cidr", "except"];
const PORT_FIELDS: [&str; 3] = ["protocol", "port", "endPort"];

/// The policy, or why it cannot be read.
pub(super) fn read(manifest: &Manifest) -> Read<NetPol> {
    let metadata_at = At::Root("metadata");
    let metadata = mapping(Some(&manifest.value["metadata"]), &metadata_at, None)?;
    let field = |name: &str| metadata.and_then(|m| m.get(name));
    let namespace =
        string(field("namespace"), &metadata_at.field("namespace"))?.filter(|ns| !ns.is_empty()).ok_or_else(|| {
            // kubectl would put it in the current context's namespace, which verify cannot know.
            "`metadata.namespace` is missing: the policy would apply wherever `kubectl` points".to_string()
        })?;
    string(field("name"), &metadata_at.field("name"))?.filter(|n| !n.is_empty()).ok_or("`metadata.name` is missing")?;

    // A missing spec is an empty one: all pods of the namespace, isolated for ingress.
    let spec_at = At::Root("spec");
    let spec = mapping(manifest.value.get("spec"), &spec_at, Some(&SPEC_FIELDS))?;
    let field = |name: &str| spec.and_then(|m| m.get(name));
    // `podSelector` is a value, not a pointer, in the API: absent means `{}`.
    let pods = selector(field("podSelector"), &spec_at.field("podSelector"))?.unwrap_or_default();
    let ingress = rules(field("ingress"), &spec_at.field("ingress"), "from")?;
    let egress = rules(field("egress"), &spec_at.field("egress"), "to")?;

    let mut types = BTreeSet::new();
    let types_at = spec_at.field("policyTypes");
    for (i, t) in sequence(field("policyTypes"), &types_at)?.unwrap_or_default().iter().enumerate() {
        let at = types_at.index(i);
        match string(Some(t), &at)? {
            Some(t @ ("Ingress" | "Egress")) => types.insert(t),
            _ => return Err(format!("`{at}` must be `Ingress` or `Egress`")),
        };
    }
    // The API server's default: Ingress always, Egress when there are egress rules.
    if types.is_empty() {
        types.insert("Ingress");
        if egress.as_ref().is_some_and(|rules| !rules.is_empty()) {
            types.insert("Egress");
        }
    }
    // Rules of a direction the policy does not declare are ignored by Kubernetes.
    Ok(NetPol {
        at: manifest.at.clone(),
        namespace: namespace.to_string(),
        pods,
        ingress: types.contains("Ingress").then(|| ingress.unwrap_or_default()),
        egress: types.contains("Egress").then(|| egress.unwrap_or_default()),
    })
}

/// `spec.ingress` or `spec.egress`; `peers_field` is `from` or `to`.
fn rules(value: Option<&Value>, at: &At, peers_field: &str) -> Read<Option<Vec<Rule>>> {
    let Some(items) = sequence(value, at)? else { return Ok(None) };
    let fields = [peers_field, "ports"];
    // Rules, peers and ports come by the hundred thousand: each list at its size.
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = at.index(i);
        // A null item decodes to an empty rule in the API server: every peer, every port.
        let rule = mapping(Some(item), &at, Some(&fields))?;
        let field = |name: &str| rule.and_then(|m| m.get(name));

        let peers_at = at.field(peers_field);
        let peer_values = sequence(field(peers_field), &peers_at)?.unwrap_or_default();
        let mut peers = Vec::with_capacity(peer_values.len());
        for (j, peer_value) in peer_values.iter().enumerate() {
            peers.push(peer(peer_value, &peers_at.index(j))?);
        }
        let ports_at = at.field("ports");
        let port_values = sequence(field("ports"), &ports_at)?.unwrap_or_default();
        let mut ports = Vec::with_capacity(port_values.len());
        for (j, port_value) in port_values.iter().enumerate() {
            ports.push(port(port_value, &ports_at.index(j))?);
        }
        out.push(Rule { peers: (!peers.is_empty()).then_some(peers), ports: (!ports.is_empty()).then_some(ports) });
    }
    Ok(Some(out))
}

fn peer(value: &Value, at: &At) -> Read<Peer> {
    let peer = mapping(Some(value), at, Some(&PEER_FIELDS))?;
    let field = |name: &str| peer.and_then(|m| m.get(name));
    let pods = selector(field("podSelector"), &at.field("podSelector"))?;
    let namespaces = selector(field("namespaceSelector"), &at.field("namespaceSelector"))?;
    let ip_block = mapping(field("ipBlock"), &at.field("ipBlock"), Some(&IP_BLOCK_FIELDS))?;
    match (pods, namespaces, ip_block) {
        (None, None, None) => Err(format!("`{at}` names no peer (`podSelector`, `namespaceSelector` or `ipBlock`)")),
        (pods, namespaces, None) => Ok(Peer::Pods { namespaces, pods: pods.unwrap_or_default() }),
        (None, None, Some(block)) => ip_block_peer(block, &at.field("ipBlock")),
        (_, _, Some(_)) => Err(format!("`{at}` may not combine `ipBlock` with a selector")),
    }
}

fn ip_block_peer(block: &Mapping, at: &At) -> Read<Peer> {
    let cidr_at = at.field("cidr");
    let cidr = string(block.get("cidr"), &cidr_at)?.ok_or_else(|| format!("`{cidr_at}` is missing"))?;
    let (network, bits) = parse_cidr(cidr).ok_or_else(|| format!("`{cidr_at}` is not a CIDR: `{cidr}`"))?;
    let mut except = Vec::new();
    let except_at = at.field("except");
    for (i, e) in sequence(block.get("except"), &except_at)?.unwrap_or_default().iter().enumerate() {
        let e_at = except_at.index(i);
        let e = string(Some(e), &e_at)?.ok_or_else(|| format!("`{e_at}` must be a CIDR"))?;
        let (e_network, e_bits) = parse_cidr(e).ok_or_else(|| format!("`{e_at}` is not a CIDR: `{e}`"))?;
        // The API server's rule: an exception is a strict subset of the block.
        if !cidr_contains(cidr, e_network) || e_bits <= bits || network.is_ipv4() != e_network.is_ipv4() {
            return Err(format!("`{e_at}` (`{e}`) must be a strict subset of `{cidr}`"));
        }
        except.push(e.to_string());
    }
    Ok(Peer::IpBlock { cidr: cidr.to_string(), except })
}

fn port(value: &Value, at: &At) -> Read<PortRule> {
    // A null item decodes to `{}`: TCP, every port.
    let port = mapping(Some(value), at, Some(&PORT_FIELDS))?;
    let field = |name: &str| port.and_then(|m| m.get(name));
    let protocol_at = at.field("protocol");
    let protocol = match string(field("protocol"), &protocol_at)? {
        None | Some("TCP") => Transport::Tcp,
        Some("UDP") => Transport::Udp,
        Some("SCTP") => Transport::Sctp,
        Some(other) => return Err(format!("`{protocol_at}` must be `TCP`, `UDP` or `SCTP`, not `{other}`")),
    };
    let port_at = at.field("port");
    let end_at = at.field("endPort");
    let end = match field("endPort") {
        None | Some(Value::Null) => None,
        Some(v) => Some(port_number(v, &end_at)?),
    };
    let port = match field("port") {
        None | Some(Value::Null) => {
            if end.is_some() {
                return Err(format!("`{end_at}` needs a numeric `port`"));
            }
            PortMatch::Any
        }
        Some(Value::String(name)) => {
            if end.is_some() {
                return Err(format!("`{end_at}` needs a numeric `port`, not the name `{name}`"));
            }
            if !is_port_name(name) {
                return Err(format!(
                    "`{port_at}` (`{name}`) is neither a number nor a valid port name (at most 15 lower-case letters, digits and `-`, with a letter)"
                ));
            }
            PortMatch::Name(name.to_string())
        }
        Some(v) => {
            let first = port_number(v, &port_at)?;
            let last = end.unwrap_or(first);
            if last < first {
                return Err(format!("`{end_at}` ({last}) must not be below `port` ({first})"));
            }
            PortMatch::Range(first, last)
        }
    };
    Ok(PortRule { protocol, port })
}

fn port_number(value: &Value, at: &At) -> Read<u16> {
    value
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n != 0)
        .ok_or_else(|| format!("`{at}` must be a port number from 1 to 65535"))
}

/// Kubernetes' IANA_SVC_NAME: 1–15 characters of `a-z`, `0-9` and `-`, at least one
/// letter, no `-` at either end or twice in a row.
fn is_port_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn parse_cidr(cidr: &str) -> Option<(IpAddr, u32)> {
    let (network, bits) = cidr.split_once('/')?;
    let network: IpAddr = network.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((network, bits))
}

fn selector(value: Option<&Value>, at: &At) -> Read<Option<Selector>> {
    let Some(m) = mapping(value, at, Some(&SELECTOR_FIELDS))? else { return Ok(None) };
    let labels = string_map(m.get("matchLabels"), &at.field("matchLabels"))?.into_iter().collect();
    let mut expressions = Vec::new();
    let list_at = at.field("matchExpressions");
    for (i, item) in sequence(m.get("matchExpressions"), &list_at)?.unwrap_or_default().iter().enumerate() {
        let at = list_at.index(i);
        let r = mapping(Some(item), &at, Some(&REQUIREMENT_FIELDS))?.ok_or_else(|| format!("`{at}` is empty"))?;
        let key = string(r.get("key"), &at.field("key"))?.ok_or_else(|| format!("`{at}.key` is missing"))?;
        let operator = match string(r.get("operator"), &at.field("operator"))? {
            Some("In") => Operator::In,
            Some("NotIn") => Operator::NotIn,
            Some("Exists") => Operator::Exists,
            Some("DoesNotExist") => Operator::DoesNotExist,
            _ => return Err(format!("`{at}.operator` must be `In`, `NotIn`, `Exists` or `DoesNotExist`")),
        };
        let mut values = BTreeSet::new();
        let values_at = at.field("values");
        for (j, v) in sequence(r.get("values"), &values_at)?.unwrap_or_default().iter().enumerate() {
            let v_at = values_at.index(j);
            values.insert(string(Some(v), &v_at)?.ok_or_else(|| format!("`{v_at}` must be a string"))?.to_string());
        }
        // The API server's rule: a set for In/NotIn, none for (Does)Exist(s).
        let needs_values = matches!(operator, Operator::In | Operator::NotIn);
        if needs_values && values.is_empty() {
            return Err(format!("`{at}.values` must not be empty for `In` and `NotIn`"));
        }
        if !needs_values && !values.is_empty() {
            return Err(format!("`{at}.values` must be empty for `Exists` and `DoesNotExist`"));
        }
        expressions.push(Requirement { key: key.to_string(), operator, values });
    }
    Ok(Some(Selector { labels, expressions }))
}

/// `matchLabels`: string keys to string values. YAML reads `version: 1` or `on: true`
/// as a number or a boolean, which the API server refuses; say so.
fn string_map(value: Option<&Value>, at: &At) -> Read<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in mapping(value, at, None)?.into_iter().flatten() {
        let Some(k) = k.as_str() else { return Err(format!("`{at}` has a key that is not a string")) };
        let v_at = at.field(k);
        let v = string(Some(v), &v_at)?.ok_or_else(|| format!("`{v_at}` must be a string"))?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A mapping, or `None` when absent or null (the API server reads null as absent).
/// With `fields`, a key outside them is an error: kubectl's strict validation refuses
/// it, and ignoring it could hide a typo that changes the meaning.
fn mapping<'v>(value: Option<&'v Value>, at: &At, fields: Option<&[&str]>) -> Read<Option<&'v Mapping>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Mapping(m)) => {
            if let Some(fields) = fields {
                for key in m.keys() {
                    match key.as_str() {
                        Some(k) if fields.contains(&k) => {}
                        Some(k) => {
                            let known = fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
                            return Err(format!("`{at}.{k}` is not a field of NetworkPolicy (expected {known})"));
                        }
                        None => return Err(format!("`{at}` has a key that is not a string")),
                    }
                }
            }
            Ok(Some(m))
        }
        Some(other) => Err(format!("`{at}` must be a mapping, not {}", describe(other))),
    }
}

fn sequence<'v>(value: Option<&'v Value>, at: &At) -> Read<Option<&'v [Value]>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Sequence(items)) => Ok(Some(items)),
        Some(other) => Err(format!("`{at}` must be a list, not {}", describe(other))),
    }
}

fn string<'v>(value: Option<&'v Value>, at: &At) -> Read<Option<&'v str>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{at}` must be a string, not {} (quote it)", describe(other))),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
