//! A packed copy of what checking an allow reads of its two ends.
//!
//! Takes: the model's segments and externals. Gives: [`Directory`]: each
//! destination's ports (by name, with whether they speak HTTP) and level, and each
//! segment's level and mesh membership.
//! Must not: hold what only an error path reads (names, spans, port numbers): those
//! stay in the model, where the diagnostics look them up.
//!
//! Why: an allow joins two declarations from anywhere in the policy. Read from the
//! model, each allow cost a cache miss on its destination's declaration (a struct of
//! 248 bytes), one on the vector of its ports and one on each port's name: at 20,000
//! segments, half of the loop's own time (perf), and growing faster than the policy.
//! Here the same facts take a few bytes per declaration and port names are numbers.

use rustc_hash::FxHashMap;

use crate::resolve::{LevelId, SegIdx};

use super::{Dest, Model};

#[derive(Debug)]
pub(super) struct Directory<'m> {
    /// Every distinct port name of the policy (a handful: `http`, `grpc`, `metrics`),
    /// numbered.
    port_names: FxHashMap<&'m str, u32>,
    /// Per destination (the segments, then the externals): where its ports start in
    /// `ports`; one more entry closes the last.
    starts: Vec<u32>,
    ports: Vec<Port>,
    /// Per destination: its level (`None` when missing or unknown, already reported).
    levels: Vec<Option<LevelId>>,
    /// Per segment: in the mesh.
    meshed: Vec<bool>,
    segments: usize,
}

#[derive(Debug, Clone, Copy)]
struct Port {
    name: u32,
    /// Whether it is declared `http` or `grpc`; `None` when its spec is invalid
    /// (already reported).
    http: Option<bool>,
}

impl<'m> Directory<'m> {
    pub(super) fn new(model: &'m Model) -> Directory<'m> {
        let dests = model.segments.len() + model.externals.len();
        let mut directory = Directory {
            port_names: FxHashMap::default(),
            starts: Vec::with_capacity(dests + 1),
            ports: Vec::new(),
            levels: Vec::with_capacity(dests),
            meshed: model.segments.iter().map(|s| s.meshed).collect(),
            segments: model.segments.len(),
        };
        let segments = model.segments.iter().map(|s| (&s.ports, s.trust));
        let externals = model.externals.iter().map(|e| (&e.ports, e.trust));
        for (ports, level) in segments.chain(externals) {
            directory.starts.push(directory.ports.len() as u32);
            directory.levels.push(level);
            for port in ports {
                let next = directory.port_names.len() as u32;
                let name = *directory.port_names.entry(port.name.as_str()).or_insert(next);
                let http = port.spec.map(|(_, protocol)| protocol.is_http());
                directory.ports.push(Port { name, http });
            }
        }
        directory.starts.push(directory.ports.len() as u32);
        directory
    }

    fn slot(&self, dest: Dest) -> usize {
        match dest {
            Dest::Segment(s) => s.0,
            Dest::External(e) => self.segments + e.0,
        }
    }

    /// The index, among `dest`'s ports, of the one called `name`; and whether it
    /// speaks HTTP (`None`: its spec is invalid).
    pub(super) fn port(&self, dest: Dest, name: &str) -> Option<(usize, Option<bool>)> {
        let name = *self.port_names.get(name)?;
        let slot = self.slot(dest);
        let ports = &self.ports[self.starts[slot] as usize..self.starts[slot + 1] as usize];
        ports.iter().position(|p| p.name == name).map(|i| (i, ports[i].http))
    }

    pub(super) fn level(&self, dest: Dest) -> Option<LevelId> {
        self.levels[self.slot(dest)]
    }

    pub(super) fn source_level(&self, source: SegIdx) -> Option<LevelId> {
        self.levels[source.0]
    }

    pub(super) fn meshed(&self, source: SegIdx) -> bool {
        self.meshed[source.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::ExtIdx;

    const POLICY: &str = r#"
trust {
  dmz
  internal accepts dmz, internal
}
segment web in shop {
  trust dmz
  select app=web
  port http 8080/http
  port metrics 9090/tcp
}
segment db in shop {
  trust internal
  select app=db
  unmeshed
  port pg 5432/tcp
  port admin 99999/http
  port http 8081/grpc
}
external stripe {
  trust internal
  cidr 10.0.0.0/8
  port https 443/tcp
}
"#;

    #[test]
    fn finds_each_destinations_own_ports_by_name() {
        let compiled = crate::driver::compile_text("d.seg", POLICY);
        let directory = Directory::new(&compiled.model);
        let (web, db) = (Dest::Segment(SegIdx(0)), Dest::Segment(SegIdx(1)));
        let stripe = Dest::External(ExtIdx(0));
        assert_eq!(directory.port(web, "http"), Some((0, Some(true))));
        assert_eq!(directory.port(web, "metrics"), Some((1, Some(false))));
        assert_eq!(directory.port(web, "pg"), None, "another segment's port");
        assert_eq!(directory.port(db, "http"), Some((2, Some(true))), "grpc speaks HTTP");
        assert_eq!(directory.port(db, "admin"), Some((1, None)), "an invalid spec");
        assert_eq!(directory.port(stripe, "https"), Some((0, Some(false))));
        assert_eq!(directory.port(stripe, "http"), None);
        assert_eq!(directory.port(web, "nope"), None, "a name no destination has");
    }

    #[test]
    fn knows_levels_and_mesh_membership() {
        let compiled = crate::driver::compile_text("d.seg", POLICY);
        let names = &compiled.model.names;
        let directory = Directory::new(&compiled.model);
        let level = |name: &str| names.levels.iter().position(|l| l.name == name).map(LevelId);
        assert_eq!(directory.source_level(SegIdx(0)), level("dmz"));
        assert_eq!(directory.level(Dest::Segment(SegIdx(1))), level("internal"));
        assert_eq!(directory.level(Dest::External(ExtIdx(0))), level("internal"));
        assert!(directory.meshed(SegIdx(0)));
        assert!(!directory.meshed(SegIdx(1)));
    }
}
