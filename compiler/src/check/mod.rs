//! Checking: every rule of the language, over the resolved declarations.
//!
//! Takes: [`Loaded`] files and their [`Names`](crate::resolve::Names). Gives: a [`Model`] holding every
//! declaration with its values parsed (what lowering reads), and a diagnostic for every
//! broken rule; a declaration with an error is kept as far as it is meaningful so that
//! later rules still run and every error of a run is reported.
//! Must not: know anything about a target's YAML or a backend, print, or stop at the
//! first error. Nothing here may be quadratic in the policy's size in the common case.

mod decls;
mod directory;
mod edges;
mod forbid;
mod model;
mod overlap;
pub mod values;

pub use model::*;

use crate::diag::{Code, Diagnostic, Label, SourceMap, Span};
use crate::resolve::{self, Loaded};

/// Checks a loaded compilation, moving its declarations into the model. Gives the
/// model, the sorted diagnostics (the loader's and the parser's included) and the
/// sources they point into.
pub fn check(loaded: Loaded) -> (Model, Vec<Diagnostic>, SourceMap) {
    let Loaded { sources, files, std_imported, root, diagnostics: mut diags } = loaded;
    let syntax_errors = crate::diag::has_errors(&diags);
    let (names, name_diags) = resolve::build(files, &sources, std_imported);
    diags.extend(name_diags);
    let mut model = Model::new(names);
    decls::check_segments(&mut model, &mut diags);
    decls::check_externals(&mut model, &mut diags);
    decls::check_targets(&mut model, &mut diags);
    // Segments that some allow or exposure names, for the unused-segment warning.
    let mut used = vec![false; model.segments.len()];
    // Overlaps read only the segments: they are checked beside the allows. Their
    // diagnostics join in a fixed order (and are sorted below).
    let ((allows, allow_diags), overlap_diags) = rayon::join(
        || {
            let mut found = Vec::new();
            (edges::check_allows(&model, &mut used, &mut found), found)
        },
        || {
            let mut found = Vec::new();
            overlap::check_selectors(&model, &mut found);
            overlap::check_services(&model, &mut found);
            found
        },
    );
    model.allows = allows;
    diags.extend(allow_diags);
    edges::check_exposures(&mut model, &mut used, &mut diags);
    edges::check_unused(&model, &used, syntax_errors, &mut diags);
    forbid::check_forbids(&model, &mut diags);
    diags.extend(overlap_diags);
    if model.names.user_segments().next().is_none() && !crate::diag::has_errors(&diags) {
        diags.push(
            Diagnostic::new(
                Code::E0003,
                "nothing to compile: no segments are declared",
                Label::new(Span::new(root, 0..0), "this file declares no segment"),
            )
            .with_help("declare a workload: `segment web in shop { trust dmz  select app=web }`"),
        );
    }
    crate::diag::sort(&mut diags);
    (model, diags, sources)
}
