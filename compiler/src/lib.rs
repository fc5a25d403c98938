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

pub mod diag;
pub mod syntax;
pub mod ir;
pub mod backends;
pub mod resolve;
pub mod check;
pub mod driver;
pub mod emit;
pub mod cli;
