//! segc: a policy-as-code compiler for network segmentation.
//!
//! One `.seg` policy declares segments (workloads), trust levels and the allowed edges
//! between them; segc checks it and emits ingress, NetworkPolicy and mesh policy that
//! agree by construction. Data flows one way through the phases:
//!
//! `syntax` (text → AST) → `resolve` (imports, names) → `check` (rules → diagnostics)
//! → `ir` (lowered policy) → `backends` (IR → Kubernetes objects) → `emit` (YAML files).
//!
//! The library never prints or exits; `cli` does.
#![forbid(unsafe_code)]

pub mod backends;
pub mod check;
pub mod cli;
pub mod diag;
pub mod diff;
pub mod driver;
pub mod emit;
pub mod explain;
pub mod graph;
pub mod ir;
pub mod resolve;
pub mod syntax;
pub mod verify;
