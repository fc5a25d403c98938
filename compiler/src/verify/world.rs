//! The universe verify reasons about: every endpoint that could open or receive a
//! connection, including what no segment names.
//!
//! A rule can be wider than declared even when every named segment's connections look
//! right, by admitting a pod no segment selects, a pod of another namespace, an address
//! outside every external, or another mesh identity. So besides the policy's segments
//! and externals, the world holds one representative of each of those.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::ir::{ExternalId, NamespaceId, Policy, Protocol, SegmentId};

/// Something that can open or receive a connection. Small and free of pointers
/// (16 bytes): verify sorts, searches and copies millions of connections between them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Segment(SegmentId),
    External(ExternalId),
    /// A pod of a managed namespace that no segment selects (no labels, service
    /// account `default`, meshed).
    OtherPod(NamespaceId),
    /// A pod (no labels, account `default`, meshed) in a namespace no segment of the
    /// policy lives in.
    OtherNamespace,
    /// An address outside the cluster that no external covers.
    Internet,
}

/// The name of the namespace of [`Endpoint::OtherNamespace`].
pub const OTHER_NAMESPACE: &str = "segc-verify-elsewhere";
/// The service account of pods that no segment selects.
pub const OTHER_ACCOUNT: &str = "default";
/// The one label every namespace carries: its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// What a selector or rule can see of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod<'a> {
    pub namespace: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// The namespace's labels: only `kubernetes.io/metadata.name`, the one label every
    /// namespace is known to carry.
    pub namespace_labels: &'a BTreeMap<String, String>,
    pub account: &'a str,
    /// Runs a mesh proxy (has a mesh identity).
    pub meshed: bool,
    /// Named container ports (segment port names), for NetworkPolicy named ports.
    pub named_ports: &'a [(&'a str, u16, Transport)],
}

/// What [`World::pod`] hands out, computed once per endpoint: verify asks for pods in
/// its innermost loops.
#[derive(Debug)]
struct PodData<'p> {
    /// Index into [`World`]'s `namespace_labels`.
    namespace: usize,
    named_ports: Vec<(&'p str, u16, Transport)>,
}

/// Endpoints by label key, then value.
type ByLabel<'p> = FxHashMap<&'p str, FxHashMap<&'p str, Vec<Endpoint>>>;

fn lookup<'a>(index: &'a ByLabel<'_>, (key, value): (&str, &str)) -> &'a [Endpoint] {
    index.get(key).and_then(|values| values.get(value)).map_or(&[], Vec::as_slice)
}

/// A TCP or UDP port of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct L4Port {
    pub number: u16,
    pub transport: Transport,
}

/// A port's transport protocol, as Kubernetes spells it. Sorted as the names are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    Sctp,
    Tcp,
    Udp,
}

impl Transport {
    /// The transport a declared port's protocol runs on.
    pub fn of(protocol: Protocol) -> Transport {
        match protocol.transport() {
            "UDP" => Transport::Udp,
            _ => Transport::Tcp,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Sctp => "SCTP",
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection attempt.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Connection {
    pub source: Endpoint,
    pub destination: Endpoint,
    pub port: L4Port,
}

/// An HTTP request on a connection, for L7 layers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Request {
    /// Upper case.
    pub method: String,
    pub path: String,
}

/// The endpoints of a policy and their attributes.
#[derive(Debug)]
pub struct World<'p> {
    pub policy: &'p Policy,
    /// Every endpoint, sorted.
    pub endpoints: Vec<Endpoint>,
    internet: IpAddr,
    external_addresses: Vec<Option<IpAddr>>,
    no_labels: BTreeMap<String, String>,
    by_namespace: BTreeMap<String, Vec<Endpoint>>,
    /// Every endpoint with a pod, sorted.
    pods: Vec<Endpoint>,
    /// Pods by a label they carry, anywhere and per namespace (only segments carry
    /// labels), sorted: selectors are matched against these, not every endpoint.
    by_label: ByLabel<'p>,
    by_namespace_label: FxHashMap<&'p str, ByLabel<'p>>,
    /// Endpoints outside the cluster by address, sorted by address.
    by_address: Vec<(IpAddr, Endpoint)>,
    /// [`World::ports_to`] of each endpoint (by position): asked for per rule.
    ports: Vec<Vec<L4Port>>,
    /// The labels of each namespace a pod lives in, shared by its pods. A map per
    /// segment (some 600 bytes each, 12 MB at 20,000 segments) was read at random when
    /// NetworkPolicy peers are matched; one per namespace stays in a core's cache.
    namespace_labels: Vec<BTreeMap<String, String>>,
    /// Per segment (by index).
    segment_pods: Vec<PodData<'p>>,
    /// By [`NamespaceId`].
    other_pods: Vec<PodData<'p>>,
    elsewhere: PodData<'p>,
}

impl<'p> World<'p> {
    pub fn new(policy: &'p Policy) -> World<'p> {
        let mut endpoints: Vec<Endpoint> =
            (0..policy.segments.len()).map(|i| Endpoint::Segment(SegmentId(i))).collect();
        endpoints.extend((0..policy.externals.len()).map(|i| Endpoint::External(ExternalId(i))));
        endpoints.extend((0..policy.managed_namespaces.len()).map(|i| Endpoint::OtherPod(NamespaceId(i))));
        endpoints.push(Endpoint::OtherNamespace);
        endpoints.push(Endpoint::Internet);
        endpoints.sort();
        let external_addresses =
            policy.externals.iter().map(|e| e.cidrs.first().and_then(|c| first_address(c))).collect();
        let mut namespace_labels = Vec::new();
        let mut namespace_index: FxHashMap<&str, usize> = FxHashMap::default();
        let mut namespace = |ns: &'p str| -> usize {
            *namespace_index.entry(ns).or_insert_with(|| {
                namespace_labels.push([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())].into());
                namespace_labels.len() - 1
            })
        };
        let segment_pods = policy
            .segments
            .iter()
            .map(|s| PodData {
                namespace: namespace(&s.namespace),
                named_ports: s.ports.iter().map(|p| (p.name.as_str(), p.number, Transport::of(p.protocol))).collect(),
            })
            .collect();
        let other_pods = policy
            .managed_namespaces
            .iter()
            .map(|ns| PodData { namespace: namespace(ns), named_ports: Vec::new() })
            .collect();
        let elsewhere = PodData { namespace: namespace(OTHER_NAMESPACE), named_ports: Vec::new() };
        let mut world = World {
            policy,
            endpoints,
            internet: IpAddr::from([0, 0, 0, 0]),
            external_addresses,
            namespace_labels,
            no_labels: BTreeMap::new(),
            by_namespace: BTreeMap::new(),
            pods: Vec::new(),
            by_label: FxHashMap::default(),
            by_namespace_label: FxHashMap::default(),
            by_address: Vec::new(),
            ports: Vec::new(),
            segment_pods,
            other_pods,
            elsewhere,
        };
        world.internet = world.pick_internet_address();
        let mut by_namespace: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
        for e in &world.endpoints {
            if let Some(pod) = world.pod(e) {
                by_namespace.entry(pod.namespace.to_string()).or_default().push(e.clone());
            }
        }
        world.by_namespace = by_namespace;
        world.pods = world.endpoints.iter().filter(|e| world.pod(e).is_some()).cloned().collect();
        for (i, segment) in policy.segments.iter().enumerate() {
            for (key, value) in &segment.selector {
                let (ns, key, value) = (segment.namespace.as_str(), key.as_str(), value.as_str());
                let endpoint = Endpoint::Segment(SegmentId(i));
                world.by_label.entry(key).or_default().entry(value).or_default().push(endpoint.clone());
                let in_namespace = world.by_namespace_label.entry(ns).or_default();
                in_namespace.entry(key).or_default().entry(value).or_default().push(endpoint);
            }
        }
        let by_label = std::iter::once(&mut world.by_label).chain(world.by_namespace_label.values_mut());
        for list in by_label.flat_map(|keys| keys.values_mut()).flat_map(|values| values.values_mut()) {
            list.sort();
        }
        let mut by_address: Vec<(IpAddr, Endpoint)> =
            world.endpoints.iter().filter_map(|e| Some((world.address(e)?, e.clone()))).collect();
        by_address.sort();
        world.by_address = by_address;
        world.ports = world.endpoints.iter().map(|e| world.find_ports_to(e)).collect();
        world
    }

    /// The pod behind an endpoint; `None` for addresses outside the cluster.
    pub fn pod<'a>(&'a self, endpoint: &'a Endpoint) -> Option<Pod<'a>> {
        match endpoint {
            Endpoint::Segment(id) => {
                let s = self.policy.segment(*id);
                let data = &self.segment_pods[id.0];
                Some(Pod {
                    namespace: &s.namespace,
                    labels: &s.selector,
                    namespace_labels: &self.namespace_labels[data.namespace],
                    account: &s.account,
                    meshed: s.meshed,
                    named_ports: &data.named_ports,
                })
            }
            Endpoint::OtherPod(id) => {
                let data = self.other_pods.get(id.0)?;
                Some(Pod {
                    namespace: self.policy.namespace(*id),
                    labels: &self.no_labels,
                    namespace_labels: &self.namespace_labels[data.namespace],
                    account: OTHER_ACCOUNT,
                    meshed: true,
                    named_ports: &data.named_ports,
                })
            }
            Endpoint::OtherNamespace => Some(Pod {
                namespace: OTHER_NAMESPACE,
                labels: &self.no_labels,
                namespace_labels: &self.namespace_labels[self.elsewhere.namespace],
                account: OTHER_ACCOUNT,
                meshed: true,
                named_ports: &self.elsewhere.named_ports,
            }),
            Endpoint::External(_) | Endpoint::Internet => None,
        }
    }

    /// The address of an endpoint outside the cluster (an external's first address,
    /// or an address no external covers). Pod addresses are unknown: `ipBlock` rules
    /// are taken never to match pods (Kubernetes leaves that to the CNI).
    pub fn address(&self, endpoint: &Endpoint) -> Option<IpAddr> {
        match endpoint {
            Endpoint::External(id) => self.external_addresses.get(id.0).copied().flatten(),
            Endpoint::Internet => Some(self.internet),
            _ => None,
        }
    }

    /// The position of an endpoint in [`World::endpoints`].
    pub fn position(&self, endpoint: &Endpoint) -> Option<usize> {
        // Sorted, the endpoints start with the segments, then the externals, by id.
        let direct = match endpoint {
            Endpoint::Segment(id) => Some(id.0),
            Endpoint::External(id) => Some(self.policy.segments.len() + id.0),
            _ => None,
        };
        match direct {
            Some(i) if self.endpoints.get(i) == Some(endpoint) => Some(i),
            _ => self.endpoints.binary_search(endpoint).ok(),
        }
    }

    /// A pod of a managed namespace: a segment the policy manages, or a pod no
    /// segment selects.
    pub fn managed_pod(&self, endpoint: &Endpoint) -> bool {
        match endpoint {
            Endpoint::Segment(id) => self.policy.segment(*id).managed,
            Endpoint::OtherPod(_) => true,
            _ => false,
        }
    }

    /// The endpoints whose pods live in a namespace.
    pub fn pods_in(&self, namespace: &str) -> &[Endpoint] {
        self.by_namespace.get(namespace).map_or(&[], Vec::as_slice)
    }

    /// The pods of `namespace` (or of every namespace) that carry `label` (or any),
    /// sorted: the candidates for a selector that requires them, which the caller
    /// still matches in full.
    pub fn pods_with(&self, namespace: Option<&str>, label: Option<(&str, &str)>) -> &[Endpoint] {
        match (namespace, label) {
            (Some(ns), Some(label)) => self.by_namespace_label.get(ns).map_or(&[], |index| lookup(index, label)),
            (Some(ns), None) => self.pods_in(ns),
            (None, Some(label)) => lookup(&self.by_label, label),
            (None, None) => &self.pods,
        }
    }

    /// The endpoints outside the cluster whose address may lie in `cidr`, by address:
    /// every one of them for a CIDR that does not parse, to be matched in full by the
    /// caller.
    pub fn addresses_in(&self, cidr: &str) -> impl Iterator<Item = &Endpoint> {
        let all = 0..self.by_address.len();
        let range = cidr_range(cidr).map_or(all, |(first, last)| {
            let start = self.by_address.partition_point(|(ip, _)| *ip < first);
            let end = self.by_address.partition_point(|(ip, _)| *ip <= last);
            start..end
        });
        self.by_address[range].iter().map(|(_, e)| e)
    }

    /// The ports to try on a destination when a rule names none: the destination's
    /// declared ports and one port it does not declare (so that "every port" shows as
    /// wider than declared).
    pub fn ports_to(&self, destination: &Endpoint) -> Vec<L4Port> {
        self.ports_into(destination).to_vec()
    }

    /// [`World::ports_to`], borrowed.
    pub fn ports_into(&self, destination: &Endpoint) -> std::borrow::Cow<'_, [L4Port]> {
        match self.position(destination) {
            Some(i) => std::borrow::Cow::Borrowed(&self.ports[i]),
            None => std::borrow::Cow::Owned(self.find_ports_to(destination)),
        }
    }

    fn find_ports_to(&self, destination: &Endpoint) -> Vec<L4Port> {
        let declared: Vec<L4Port> = match destination {
            Endpoint::Segment(id) => {
                self.policy.segment(*id).ports.iter().map(|p| l4(p.number, Transport::of(p.protocol))).collect()
            }
            Endpoint::External(id) => {
                self.policy.external(*id).ports.iter().map(|p| l4(p.number, Transport::of(p.protocol))).collect()
            }
            _ => Vec::new(),
        };
        let other = (1..=u16::MAX)
            .rev()
            .map(|n| l4(n, Transport::Tcp))
            .find(|p| !declared.contains(p))
            .unwrap_or(l4(1, Transport::Tcp));
        let mut ports = declared;
        ports.push(other);
        ports.sort();
        ports.dedup();
        ports
    }

    /// Namespaces that have pods in this world, sorted.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.by_namespace.keys().map(String::as_str)
    }

    /// The endpoint in the user's words, for messages.
    pub fn describe(&self, endpoint: &Endpoint) -> String {
        match endpoint {
            Endpoint::Segment(id) => format!("`{}`", self.policy.segment(*id).name),
            Endpoint::External(id) => format!("`{}`", self.policy.external(*id).name),
            Endpoint::OtherPod(id) => format!("a pod of `{}` that no segment selects", self.policy.namespace(*id)),
            Endpoint::OtherNamespace => "a pod of another namespace".to_string(),
            Endpoint::Internet => format!("an address outside every external ({})", self.internet),
        }
    }

    /// An address of the public internet that no external of the policy covers.
    fn pick_internet_address(&self) -> IpAddr {
        const CANDIDATES: [[u8; 4]; 4] = [[198, 18, 0, 1], [192, 0, 2, 200], [100, 64, 0, 1], [203, 0, 113, 250]];
        let covered = |ip: IpAddr| self.policy.externals.iter().flat_map(|e| &e.cidrs).any(|c| cidr_contains(c, ip));
        CANDIDATES.iter().map(|c| IpAddr::from(*c)).find(|ip| !covered(*ip)).unwrap_or(IpAddr::from([0, 0, 0, 1]))
    }
}

fn l4(number: u16, transport: Transport) -> L4Port {
    L4Port { number, transport }
}

/// The network address of a CIDR (`203.0.113.0/24` → 203.0.113.0).
pub fn first_address(cidr: &str) -> Option<IpAddr> {
    cidr.split('/').next()?.parse().ok()
}

/// The first and last address of a CIDR; `None` when it does not parse.
fn cidr_range(cidr: &str) -> Option<(IpAddr, IpAddr)> {
    let (network, bits) = cidr.split_once('/')?;
    let (network, bits) = (network.parse::<IpAddr>().ok()?, bits.parse::<u32>().ok()?);
    match network {
        IpAddr::V4(n) if bits <= 32 => {
            let host = if bits == 0 { u32::MAX } else { (1u32 << (32 - bits)).wrapping_sub(1) };
            let first = u32::from(n) & !host;
            Some((IpAddr::from(first.to_be_bytes()), IpAddr::from((first | host).to_be_bytes())))
        }
        IpAddr::V6(n) if bits <= 128 => {
            let host = if bits == 0 { u128::MAX } else { (1u128 << (128 - bits)).wrapping_sub(1) };
            let first = u128::from(n) & !host;
            Some((IpAddr::from(first.to_be_bytes()), IpAddr::from((first | host).to_be_bytes())))
        }
        _ => None,
    }
}

/// True when `ip` lies in `cidr` (IPv4 or IPv6; a malformed CIDR contains nothing).
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((network, bits)) = cidr.split_once('/') else { return false };
    let (Ok(network), Ok(bits)) = (network.parse::<IpAddr>(), bits.parse::<u32>()) else { return false };
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ir::sample::{self, shop};
    use crate::ir::{IngressKind, MeshKind};

    #[test]
    fn cidrs_contain_what_they_should() {
        assert!(cidr_contains("203.0.113.0/24", "203.0.113.7".parse().unwrap()));
        assert!(!cidr_contains("203.0.113.0/24", "203.0.114.7".parse().unwrap()));
        assert!(cidr_contains("0.0.0.0/0", "8.8.8.8".parse().unwrap()));
        assert!(cidr_contains("2001:db8::/32", "2001:db8::1".parse().unwrap()));
        assert!(!cidr_contains("2001:db8::/32", "8.8.8.8".parse().unwrap()));
        assert!(!cidr_contains("garbage", "8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn indexes_find_what_a_scan_of_every_endpoint_finds() {
        let policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let world = World::new(&policy);
        let pods: Vec<(&Endpoint, Pod)> = world.endpoints.iter().filter_map(|e| Some((e, world.pod(e)?))).collect();
        let labels: BTreeSet<(&str, &str)> =
            pods.iter().flat_map(|(_, p)| p.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))).collect();
        let namespaces = ["shop", "data", "kube-system", OTHER_NAMESPACE, "nowhere"];
        for namespace in namespaces.iter().map(|ns| Some(*ns)).chain([None]) {
            for label in labels.iter().copied().map(Some).chain([Some(("app", "nobody")), None]) {
                let scanned: Vec<&Endpoint> = pods
                    .iter()
                    .filter(|(_, p)| namespace.map_or(true, |ns| p.namespace == ns))
                    .filter(|(_, p)| label.map_or(true, |(k, v)| p.labels.get(k).is_some_and(|l| l == v)))
                    .map(|(e, _)| *e)
                    .collect();
                let indexed: Vec<&Endpoint> = world.pods_with(namespace, label).iter().collect();
                assert_eq!(indexed, scanned, "{namespace:?} {label:?}");
            }
        }
        for cidr in ["203.0.113.0/24", "0.0.0.0/0", "203.0.113.0/32", "10.0.0.0/8", "::/0", "garbage"] {
            let indexed: BTreeSet<&Endpoint> = world.addresses_in(cidr).collect();
            let scanned: BTreeSet<&Endpoint> =
                world.endpoints.iter().filter(|e| world.address(e).is_some_and(|ip| cidr_contains(cidr, ip))).collect();
            assert!(indexed.is_superset(&scanned), "{cidr}");
            assert!(indexed.iter().all(|e| world.address(e).is_some()), "{cidr}");
        }
        for (i, endpoint) in world.endpoints.iter().enumerate() {
            assert_eq!(world.position(endpoint), Some(i));
            assert_eq!(world.ports_into(endpoint).to_vec(), world.find_ports_to(endpoint));
        }
        assert_eq!(world.position(&Endpoint::OtherPod(NamespaceId(policy.managed_namespaces.len()))), None);
    }

    #[test]
    fn the_world_has_a_representative_of_everything_unnamed() {
        let policy = shop(IngressKind::Nginx, MeshKind::Istio);
        let world = World::new(&policy);
        assert!(world.endpoints.contains(&Endpoint::OtherPod(sample::SHOP)));
        assert_eq!(world.pod(&Endpoint::OtherPod(sample::SHOP)).unwrap().namespace, "shop");
        assert!(world.endpoints.contains(&Endpoint::OtherNamespace));
        let internet = world.address(&Endpoint::Internet).unwrap();
        assert!(!cidr_contains("203.0.113.0/24", internet));
        assert_eq!(world.address(&Endpoint::External(sample::STRIPE)), "203.0.113.0".parse().ok());
        assert!(world.pods_in("shop").contains(&Endpoint::Segment(sample::WEB)));
        assert_eq!(world.pod(&Endpoint::Segment(sample::WEB)).unwrap().account, "web");
    }
}
