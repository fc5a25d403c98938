//! Syntax: source text to an AST with spans.
//!
//! Takes: the text of one `.seg` file in the [`SourceMap`](crate::diag::SourceMap).
//! Gives: an [`ast::File`] holding every declaration that parsed, and diagnostics for
//! what did not; the parser resumes at the next top-level declaration, so every
//! syntax error of a file is reported in one run.
//! Must not: resolve names, validate values (ports, CIDRs, labels: that is `check`), or
//! let pest types leave `parser.rs`.

pub mod ast;
mod direct;
#[cfg(test)]
mod direct_tests;
pub mod format;
mod lexical;
mod load;
mod parser;

pub use lexical::{scan, Lexical};
pub use load::{decode, DecodeError, MAX_SOURCE_BYTES};
pub use parser::parse;

/// The keywords that start a top-level declaration.
pub const DECLARATION_KEYWORDS: &[&str] =
    &["import", "trust", "target", "segment", "external", "allow", "expose", "forbid"];
