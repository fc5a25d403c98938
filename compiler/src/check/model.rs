//! The checked model: every declaration with its values parsed, indexed like
//! [`Names`]. Plain data; lowering reads it once the compilation has no errors.

use std::collections::BTreeMap;

use crate::diag::Span;
use crate::ir::{IngressKind, MeshKind, Protocol};
use crate::resolve::{ExtIdx, LevelId, Names, SegIdx};

/// `port NAME NUMBER/PROTO`; `spec` is `None` when the specification is invalid
/// (already reported), so that references to the name still resolve.
#[derive(Debug, Clone)]
pub struct PortDecl {
    pub name: String,
    pub spec: Option<(u16, Protocol)>,
    /// The whole `port` line.
    pub span: Span,
}

/// `probe PORT PATH...`: the index of the port in the segment's ports and the paths.
#[derive(Debug, Clone)]
pub struct ProbeDecl {
    pub port: usize,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Segment {
    /// `web` or `std.prometheus`.
    pub name: String,
    pub std: bool,
    pub namespace: String,
    pub namespace_span: Span,
    /// `None` when the level is missing or unknown (reported).
    pub trust: Option<LevelId>,
    pub trust_span: Option<Span>,
    pub selector: BTreeMap<String, String>,
    pub account: String,
    pub service: String,
    pub ports: Vec<PortDecl>,
    pub meshed: bool,
    /// The `unmeshed` line, when present.
    pub unmeshed_span: Option<Span>,
    pub probes: Vec<ProbeDecl>,
    /// `segment NAME in NS`.
    pub header: Span,
}

#[derive(Debug, Clone)]
pub struct External {
    pub name: String,
    pub trust: Option<LevelId>,
    pub trust_span: Option<Span>,
    /// Canonical CIDRs as declared (invalid ones dropped, reported).
    pub cidrs: Vec<String>,
    pub ports: Vec<PortDecl>,
    pub header: Span,
}

/// The destination of an allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    Segment(SegIdx),
    External(ExtIdx),
}

/// An allow whose source, destination and port resolved.
#[derive(Debug, Clone)]
pub struct Allow {
    pub source: SegIdx,
    pub destination: Dest,
    /// Index into the destination's ports.
    pub port: usize,
    /// As written (validated); empty = any.
    pub methods: Vec<String>,
    pub paths: Vec<String>,
    /// `allow SRC -> DST:PORT`.
    pub header: Span,
}

/// An exposure whose segment and port resolved.
#[derive(Debug, Clone)]
pub struct Exposure {
    pub segment: SegIdx,
    pub port: usize,
    pub host: String,
    /// As written; empty means the default, every path.
    pub paths: Vec<String>,
    pub tls: Option<String>,
    /// Canonical client CIDRs; empty means anywhere.
    pub sources: Vec<String>,
    pub auth_url: Option<String>,
    pub header: Span,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub ingress: IngressKind,
    pub mesh: MeshKind,
    pub trust_domain: String,
    pub identity_suffix: String,
    /// `None` only when it could not be resolved (reported).
    pub controller: Option<SegIdx>,
    /// `None` for `dns off` or when unresolved (reported).
    pub dns: Option<SegIdx>,
    /// The mesh's control-plane segments from the standard library (empty for `mesh none`).
    pub control_plane: Vec<SegIdx>,
    pub header: Span,
}

/// The checked compilation.
#[derive(Debug, Clone)]
pub struct Model {
    pub names: Names,
    /// Parallel to `names.segments`.
    pub segments: Vec<Segment>,
    /// Parallel to `names.externals`.
    pub externals: Vec<External>,
    pub allows: Vec<Allow>,
    pub exposures: Vec<Exposure>,
    /// Targets whose ingress and mesh are known, in declaration order.
    pub targets: Vec<Target>,
}

impl Model {
    pub fn new(names: Names) -> Self {
        Model {
            names,
            segments: Vec::new(),
            externals: Vec::new(),
            allows: Vec::new(),
            exposures: Vec::new(),
            targets: Vec::new(),
        }
    }

    pub fn segment(&self, idx: SegIdx) -> &Segment {
        &self.segments[idx.0]
    }

    pub fn external(&self, idx: ExtIdx) -> &External {
        &self.externals[idx.0]
    }

    /// The ports of an allow's destination.
    pub fn dest_ports(&self, dest: Dest) -> &[PortDecl] {
        match dest {
            Dest::Segment(s) => &self.segment(s).ports,
            Dest::External(e) => &self.external(e).ports,
        }
    }

    pub fn dest_level(&self, dest: Dest) -> Option<LevelId> {
        match dest {
            Dest::Segment(s) => self.segment(s).trust,
            Dest::External(e) => self.external(e).trust,
        }
    }

    pub fn dest_name(&self, dest: Dest) -> &str {
        match dest {
            Dest::Segment(s) => &self.segment(s).name,
            Dest::External(e) => &self.external(e).name,
        }
    }
}
