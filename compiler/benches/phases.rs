//! Every phase of segc on generated policies of 1,000, 10,000 and 20,000 segments.
//!
//! ```sh
//! cargo bench --bench phases                 # all phases, all sizes
//! cargo bench --bench phases -- verify       # one phase (a name filter)
//! ```
//!
//! The policies come from the `synth` example (same generator, same seed): `n`
//! segments in `n / 100` namespaces, five edges per segment, `n / 10` exposures, and
//! two targets that between them use all five layers (`prod`: NetworkPolicy,
//! ingress-nginx, Istio; `edge`: NetworkPolicy, Traefik, Linkerd). Each phase is timed
//! alone on the output of the phases before it, which is built once per size and
//! shared. docs/performance.md records the figures and the whole-command timings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use divan::Bencher;
use segc::backends::{Backend, Object};
use segc::driver::{self, Compiled};
use segc::emit::{self, Rendered};
use segc::ir::Policy;
use segc::verify::{self, Manifest};

#[path = "../examples/synth/policy.rs"]
mod synth;

#[path = "../src/allocator.rs"]
mod allocator;

fn main() {
    allocator::keep_freed_memory();
    divan::main();
}

const SIZES: &[usize] = &[1_000, 10_000, 20_000];
const TARGETS: [&str; 2] = ["prod", "edge"];
const SOURCE: &str = "synth.seg";

/// One target's build of a policy, written to a directory and read back.
struct Built {
    policy: Policy,
    objects: Vec<Object>,
    files: Vec<Rendered>,
    dir: tempfile::TempDir,
    manifests: Vec<Manifest>,
}

/// Everything the phases of one size start from.
struct Fixture {
    text: String,
    compiled: Compiled,
    built: HashMap<&'static str, Built>,
}

/// The fixture of size `n`, built on first use.
fn fixture(n: usize) -> Arc<Fixture> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Fixture>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().expect("no bench panicked");
    cache.entry(n).or_insert_with(|| Arc::new(build_fixture(n))).clone()
}

fn build_fixture(n: usize) -> Fixture {
    let params =
        synth::Params { segments: n, namespaces: (n / 100).max(1), edges_per_segment: 5, exposures: n / 10, seed: 1 };
    let text = synth::generate(&params);
    let compiled = driver::compile_text(SOURCE, &text);
    assert!(!compiled.has_errors(), "the generated policy checks clean");
    let built = TARGETS
        .into_iter()
        .map(|target| {
            let policy = driver::lower(&compiled, Some(target)).expect("the generated policy lowers");
            let objects = segc::backends::emit_all(&policy);
            let files = emit::render(SOURCE, target, &objects).expect("objects render");
            let dir = tempfile::tempdir().expect("a temporary directory");
            emit::write(dir.path(), &files).expect("the build writes");
            let manifests = verify::manifests::read_dir(dir.path()).expect("the build reads back");
            (target, Built { policy, objects, files, dir, manifests })
        })
        .collect();
    Fixture { text, compiled, built }
}

/// Text to AST, with the embedded standard library it imports.
#[divan::bench(args = SIZES, sample_count = 5)]
fn parse(bencher: Bencher, n: usize) {
    let f = fixture(n);
    bencher.bench(|| segc::resolve::load_text(SOURCE, &f.text));
}

/// Names, types, trust, overlaps, forbids: everything `segc check` does after parsing.
#[divan::bench(args = SIZES, sample_count = 5)]
fn check(bencher: Bencher, n: usize) {
    let f = fixture(n);
    // check takes the parsed files by value; parsing them for each run is not timed.
    bencher.with_inputs(|| segc::resolve::load_text(SOURCE, &f.text)).bench_values(segc::check::check);
}

/// The checked model to the IR of one target.
mod lower {
    use super::*;

    fn lower(bencher: Bencher, n: usize, target: &str) {
        let f = fixture(n);
        bencher.bench(|| driver::lower(&f.compiled, Some(target)));
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn prod(bencher: Bencher, n: usize) {
        lower(bencher, n, "prod");
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn edge(bencher: Bencher, n: usize) {
        lower(bencher, n, "edge");
    }
}

/// Each backend alone: the IR to Kubernetes objects.
mod backend {
    use super::*;

    fn emit(bencher: Bencher, n: usize, target: &str, backend: Backend) {
        let f = fixture(n);
        let policy = &f.built[target].policy;
        bencher.bench(|| backend.emit(policy));
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn netpol(bencher: Bencher, n: usize) {
        emit(bencher, n, "prod", Backend::NetworkPolicy);
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn nginx(bencher: Bencher, n: usize) {
        emit(bencher, n, "prod", Backend::Nginx);
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn traefik(bencher: Bencher, n: usize) {
        emit(bencher, n, "edge", Backend::Traefik);
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn istio(bencher: Bencher, n: usize) {
        emit(bencher, n, "prod", Backend::Istio);
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn linkerd(bencher: Bencher, n: usize) {
        emit(bencher, n, "edge", Backend::Linkerd);
    }
}

/// Objects to file contents (YAML with the header), sorted by path.
mod render {
    use super::*;

    fn render(bencher: Bencher, n: usize, target: &str) {
        let f = fixture(n);
        let objects = &f.built[target].objects;
        bencher.bench(|| emit::render(SOURCE, target, objects));
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn prod(bencher: Bencher, n: usize) {
        render(bencher, n, "prod");
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn edge(bencher: Bencher, n: usize) {
        render(bencher, n, "edge");
    }
}

/// The atomic write of a whole build into an empty directory (removing the directory
/// afterwards is not timed).
mod write {
    use super::*;

    fn write(bencher: Bencher, n: usize, target: &str) {
        let f = fixture(n);
        let files = &f.built[target].files;
        bencher.with_inputs(|| tempfile::tempdir().expect("a temporary directory")).bench_local_values(|dir| {
            emit::write(&dir.path().join("out"), files).expect("the build writes");
            dir
        });
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn prod(bencher: Bencher, n: usize) {
        write(bencher, n, "prod");
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn edge(bencher: Bencher, n: usize) {
        write(bencher, n, "edge");
    }
}

/// Reading a build back: every file under the directory, parsed.
mod read {
    use super::*;

    fn read(bencher: Bencher, n: usize, target: &str) {
        let f = fixture(n);
        let dir = f.built[target].dir.path();
        bencher.bench(|| verify::manifests::read_dir(dir).expect("the build reads back"));
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn prod(bencher: Bencher, n: usize) {
        read(bencher, n, "prod");
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn edge(bencher: Bencher, n: usize) {
        read(bencher, n, "edge");
    }
}

/// The interpreters of every layer against the declaration, on manifests already read.
mod verify_layers {
    use super::*;

    fn verify(bencher: Bencher, n: usize, target: &str) {
        let f = fixture(n);
        let built = &f.built[target];
        bencher.with_inputs(|| (f.compiled.sources.clone(), built.manifests.clone())).bench_values(
            |(mut sources, manifests)| {
                let found = verify::verify_manifests(&mut sources, built.dir.path(), &built.policy, manifests);
                assert!(found.is_empty(), "the build verifies clean");
            },
        );
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn prod(bencher: Bencher, n: usize) {
        verify(bencher, n, "prod");
    }

    #[divan::bench(args = SIZES, sample_count = 5)]
    fn edge(bencher: Bencher, n: usize) {
        verify(bencher, n, "edge");
    }
}
