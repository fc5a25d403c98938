//! Property: whatever valid policy a user writes, what `segc build` emits for any
//! target verifies clean. Policies are generated at random: segments in several
//! namespaces with http, grpc and tcp ports and probes, externals, allows with and
//! without methods and paths, exposures with paths, client ranges and auth.

use proptest::prelude::*;
use segc::diag::{render_all, ColorChoice};
use segc::{backends, driver, emit, verify};

const TARGETS: &[(&str, &str, &str)] = &[
    ("a", "nginx", "istio"),
    ("b", "nginx", "linkerd"),
    ("c", "traefik", "istio"),
    ("d", "traefik", "linkerd"),
    ("e", "nginx", "none"),
];

const PATHS: &[&str] = &["\"/*\"", "\"/a/*\"", "\"/a/b\"", "\"/b\"", "\"/c/*\""];
const METHODS: &[&str] = &["GET", "POST", "DELETE"];

#[derive(Debug, Clone)]
struct Spec {
    namespaces: usize,
    /// Per segment: (edge level?, has grpc, has tcp, probe?).
    segments: Vec<(bool, bool, bool, bool)>,
    externals: usize,
    /// (source, destination index over segments then externals, port choice, methods mask, paths mask).
    allows: Vec<(usize, usize, usize, u8, u8)>,
    /// (segment, paths mask, source range?, auth?).
    exposures: Vec<(usize, u8, bool, bool)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=3, prop::collection::vec(any::<(bool, bool, bool, bool)>(), 1..6), 0usize..=2).prop_flat_map(
        |(namespaces, segments, externals)| {
            let n = segments.len();
            let allows = prop::collection::vec((0..n, 0..n + externals, 0usize..3, any::<u8>(), any::<u8>()), 0..8);
            let exposures = prop::collection::vec((0..n, any::<u8>(), any::<bool>(), any::<bool>()), 0..3);
            (Just(namespaces), Just(segments), Just(externals), allows, exposures).prop_map(
                |(namespaces, segments, externals, allows, exposures)| Spec {
                    namespaces,
                    segments,
                    externals,
                    allows,
                    exposures,
                },
            )
        },
    )
}

fn pick<'a>(items: &[&'a str], mask: u8) -> Vec<&'a str> {
    items.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect()
}

/// The policy text of a spec: always valid.
fn policy(spec: &Spec) -> String {
    let mut out = String::from("import \"std/k8s\"\n\ntrust {\n  edge accepts internet, edge, core\n  core accepts edge, core, platform\n}\n\n");
    for (name, ingress, mesh) in TARGETS {
        out.push_str(&format!("target {name} {{\n  ingress {ingress}\n  mesh {mesh}\n}}\n\n"));
    }
    for (i, (edge, grpc, tcp, probe)) in spec.segments.iter().enumerate() {
        out.push_str(&format!(
            "segment s{i} in ns{} {{\n  trust {}\n  select app=s{i}\n  port http 8080/http\n",
            i % spec.namespaces,
            if *edge { "edge" } else { "core" }
        ));
        if *grpc {
            out.push_str("  port rpc 9090/grpc\n");
        }
        if *tcp {
            out.push_str("  port db 5432/tcp\n");
        }
        if *probe {
            out.push_str("  probe http \"/healthz\"\n");
        }
        out.push_str("}\n\n");
    }
    for e in 0..spec.externals {
        out.push_str(&format!("external x{e} {{\n  cidr 203.0.113.{}/28\n  port https 443/tcp\n}}\n\n", e * 16));
    }
    let n = spec.segments.len();
    for (source, destination, port, methods, paths) in &spec.allows {
        if *destination >= n {
            out.push_str(&format!("allow s{source} -> x{}:https\n", destination - n));
            continue;
        }
        let (_, grpc, tcp, _) = spec.segments[*destination];
        let port = match port {
            1 if grpc => "rpc",
            2 if tcp => "db",
            _ => "http",
        };
        out.push_str(&format!("allow s{source} -> s{destination}:{port}"));
        let methods = pick(METHODS, *methods);
        let paths = pick(PATHS, *paths);
        if port != "db" && (!methods.is_empty() || !paths.is_empty()) {
            out.push_str(" {\n");
            if !methods.is_empty() {
                out.push_str(&format!("  methods {}\n", methods.join(" ")));
            }
            if !paths.is_empty() {
                out.push_str(&format!("  paths {}\n", paths.join(" ")));
            }
            out.push('}');
        }
        out.push('\n');
    }
    for (k, (segment, paths, source, auth)) in spec.exposures.iter().enumerate() {
        // Only edge segments accept the internet; exposures of others are skipped.
        if !spec.segments[*segment].0 {
            continue;
        }
        out.push_str(&format!("\nexpose s{segment}:http {{\n  host \"h{k}.example.com\"\n  tls h{k}-tls\n"));
        let paths: Vec<&str> = pick(PATHS, *paths).into_iter().filter(|p| *p != "\"/*\"").collect();
        if !paths.is_empty() {
            out.push_str(&format!("  paths {}\n", paths.join(" ")));
        }
        if *source {
            out.push_str("  source 198.51.100.0/24\n");
        }
        if *auth {
            out.push_str("  auth url \"https://auth.example.com/check\"\n");
        }
        out.push_str("}\n");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_policies_verify_clean_for_every_target(spec in spec()) {
        let text = policy(&spec);
        let compiled = driver::compile_text("random.seg", &text);
        prop_assert!(
            !compiled.has_errors(),
            "generated an invalid policy:\n{text}\n{}",
            render_all(&compiled.sources, &compiled.diagnostics, ColorChoice::Never)
        );
        for (target, _, _) in TARGETS {
            let policy = match driver::lower(&compiled, Some(target)) {
                Ok(policy) => policy,
                Err(e) => return Err(TestCaseError::fail(format!("{target}: {e}\n{text}"))),
            };
            let files = emit::render("random.seg", target, &backends::emit_all(&policy)).unwrap();
            let dir = tempfile::tempdir().unwrap();
            emit::write(dir.path(), &files).unwrap();
            let mut sources = compiled.sources.clone();
            let diagnostics = verify::verify(&mut sources, dir.path(), &policy).unwrap();
            prop_assert!(
                diagnostics.is_empty(),
                "target {target} does not verify clean:\n{text}\n{}",
                render_all(&sources, &diagnostics, ColorChoice::Never)
            );
        }
    }
}

/// The generator produces what the property needs: L7 allows, exposures with
/// allowlists and auth, probes, externals, several namespaces.
#[test]
fn the_generator_covers_the_language() {
    let spec = Spec {
        namespaces: 2,
        segments: vec![(true, true, true, true), (false, true, true, false)],
        externals: 1,
        allows: vec![(0, 1, 0, 0b011, 0b0110), (1, 2, 0, 0, 0), (0, 1, 2, 0, 0)],
        exposures: vec![(0, 0b0010, true, true)],
    };
    let text = policy(&spec);
    for needle in [
        "methods GET POST",
        "paths \"/a/*\" \"/a/b\"",
        "source 198.51.100.0/24",
        "auth url",
        "probe http",
        "allow s1 -> x0:https",
        "in ns1",
        "allow s0 -> s1:db",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let compiled = driver::compile_text("g.seg", &text);
    assert!(!compiled.has_errors(), "{}", render_all(&compiled.sources, &compiled.diagnostics, ColorChoice::Never));
}
