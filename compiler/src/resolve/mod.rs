//! Resolution: loading the root file and its imports, and the symbol table.
//!
//! Takes: a root path or text. Gives: [`Loaded`] (every file, parsed) and [`Names`]
//! (every declaration in one flat namespace, with lookups).
//! Must not: validate values or apply the policy rules (that is `check`), or print.

mod load;
mod names;

pub use load::{load, load_text, Loaded, STD_K8S_NAME};
pub use names::{build, AcceptRule, ExtIdx, Level, LevelId, Named, Names, SegIdx, SegmentDecl, INTERNET, PLATFORM};
