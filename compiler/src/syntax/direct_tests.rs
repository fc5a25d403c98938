//! The direct parser against pest: on every input, parsing with the direct parser
//! first must give the same tree (spans included) and the same diagnostics as pest
//! alone.

use proptest::prelude::*;

use super::parser::{parse_with, FastPath};
use super::*;
use crate::diag::{Origin, SourceMap};

const PEST_ONLY: FastPath = |_, _, _| None;

/// Debug output of both parses; spans and diagnostics included.
fn both(text: &str) -> (String, String) {
    let mut sources = SourceMap::new();
    let id = sources.add("t.seg", Origin::Stdin, text.to_string());
    let direct = parse_with(&sources, id, direct::declaration);
    let pest = parse_with(&sources, id, PEST_ONLY);
    (format!("{direct:#?}"), format!("{pest:#?}"))
}

fn assert_same(text: &str) {
    let (direct, pest) = both(text);
    assert!(direct == pest, "direct and pest parses differ on {text:?}:\n{}", first_difference(&direct, &pest));
}

fn first_difference(a: &str, b: &str) -> String {
    let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
    let around = |s: &str| s.lines().skip(line.saturating_sub(8)).take(12).collect::<Vec<_>>().join("\n");
    format!("direct:\n{}\npest:\n{}", around(a), around(b))
}

/// True when the direct parser takes the first declaration of `text` itself.
fn direct_accepts(text: &str) -> bool {
    direct::declaration(crate::diag::FileId(0), text, 0).is_some()
}

#[test]
fn every_seg_file_of_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![root];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable directory").flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && name != ".git" {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "seg") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    assert_same(&text);
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 10, "found only {seen} .seg files");
}

#[test]
fn well_formed_declarations_take_the_direct_path() {
    for text in [
        "import \"std/k8s\"",
        "trust { edge accepts internet, edge\n app requires mtls allows plaintext\n ops }",
        "target prod { ingress nginx mesh istio trust-domain \"x.local\" dns off }",
        "segment web in shop { trust edge select app=web tier=x port http 8080/http probe http \"/h\" /r unmeshed }",
        "external pay { cidr 10.0.0.0/8 192.168.0.0/16 port https 443/tcp }",
        "allow web->api:http",
        "allow std.prometheus -> api : metrics { methods GET paths \"/a\\\"b\" }",
        "expose web:http { host \"a.example\" tls a-tls source 1.2.3.0/24 auth url \"https://x\" }",
        "forbid internet ->* data",
    ] {
        assert!(direct_accepts(text), "{text}");
        assert_same(text);
    }
}

#[test]
fn edge_cases_agree() {
    for text in [
        "allow a -> b:c {",
        "allow a -> b:c { bogus }\nforbid a -> b",
        "allow a -> b:c // x\n{ methods GET }",
        "allow a--b -> c-:d",
        "allow std. -> a:b",
        "allow std.-x -> a:b",
        "allow stdx -> a:b",
        "segment a//x in b {}\n in c {}",
        "segment a in b { select trust x }",
        "segment a in b { select \"trust\" x }",
        "segment a in b { select x\nsegment c in d { select y }",
        "segment a in b { port trust 80/http }",
        "segment a in b { probe http }",
        "segment a in b { select a=\"b\" }",
        "segment a in b { select \"a\\q\" }",
        "segment a in b { select \"a\nb\" }",
        "segment é in b {}",
        "segment a in-b {}",
        "segment a in b { trust-domain x }",
        "trust { accepts }",
        "trust { a accepts b, }",
        "trust { a requires mtls accepts b }",
        "trust { a allows }",
        "trust x",
        "target t { dns }",
        "expose a:b { auth \"url\" x }",
        "expose a:b { auth url }",
        "forbid a -> ",
        "import",
        "import x y",
        "\u{feff}segment a in b {}",
        "segment a in b {}}",
        "allow a -> b:c\r\nallow d -> e:f\r\n",
    ] {
        assert_same(text);
    }
}

/// Builds a text from a stream of choices: declarations from templates, with tokens
/// dropped, replaced or inserted and random trivia between tokens, so that both well-
/// formed and broken declarations of every kind come up.
fn generate(choices: &[u16]) -> String {
    const TEMPLATES: &[&str] = &[
        "segment $I in $I { $SP $SP $SP }",
        "external $I { $EP $EP }",
        "allow $R -> $R : $I",
        "allow $R ->* $R : $I { $AP $AP }",
        "expose $R : $I { $XP $XP $XP }",
        "forbid $R -> $R",
        "forbid $R ->* $R",
        "import $V",
        "trust { $LV $LV $LV }",
        "target $I { $TP $TP }",
    ];
    const SEGMENT: &[&str] =
        &["trust $I", "select $V $V", "account $V", "port $I $V", "service $V", "unmeshed", "probe $I $V $V", ""];
    const EXTERNAL: &[&str] = &["trust $I", "cidr $V $V", "port $I $V", ""];
    const ALLOW: &[&str] = &["methods $V $V", "paths $V", ""];
    const EXPOSE: &[&str] = &["host $V", "paths $V $V", "tls $V", "source $V", "auth url $V", ""];
    const LEVEL: &[&str] = &[
        "$I",
        "$I accepts $I , $I",
        "$I requires $I",
        "$I allows plaintext",
        "$I accepts $I requires $I allows plaintext",
        "",
    ];
    const TARGET: &[&str] =
        &["ingress $V", "mesh $V", "trust-domain $V", "identity-suffix $V", "controller $V", "dns $V", ""];
    const IDENT: &[&str] = &[
        "web", "api", "a-b", "a--b", "x_1", "9z", "a-", "-a", "std", "in", "trust", "select", "url", "accepts", "é",
        "a.b",
    ];
    const VALUE: &[&str] = &[
        "web",
        "app=web",
        "8080/http",
        "\"q\"",
        "\"a\\\"b\\\\\"",
        "\"bad\\x\"",
        "\"open",
        "\"two\nlines\"",
        "\"cr\rinside\"",
        "\"dé\"",
        "/api/*",
        "//c",
        "trust",
        "select",
        "url",
        "10.0.0.0/8",
        "\"\"",
        "a-b",
    ];
    const REF: &[&str] = &["web", "std.web", "std.", "std", "std.-x", "api-v2", "trust", "internet", "a:b"];
    const NOISE: &[&str] = &["{", "}", ":", ",", "->", "->*", "\"", "//", "segment", "allow", "port", "=", "é", "\t"];
    const TRIVIA: &[&str] = &[" ", " ", " ", "", "\n", "  \t", " // note\n", "\r\n", "//x\n", "\n\n"];

    let mut stream = choices.iter().copied().chain(std::iter::repeat(0));
    let mut pick = |n: usize| usize::from(stream.next().unwrap_or(0)) % n;
    // Expand templates into tokens.
    let mut tokens: Vec<&str> = Vec::new();
    for _ in 0..1 + pick(4) {
        let mut pending: Vec<&str> = TEMPLATES[pick(TEMPLATES.len())].split(' ').rev().collect();
        while let Some(t) = pending.pop() {
            let table: &[&str] = match t {
                "$SP" => SEGMENT,
                "$EP" => EXTERNAL,
                "$AP" => ALLOW,
                "$XP" => EXPOSE,
                "$LV" => LEVEL,
                "$TP" => TARGET,
                "$I" => IDENT,
                "$V" => VALUE,
                "$R" => REF,
                _ => {
                    tokens.push(t);
                    continue;
                }
            };
            let choice = table[pick(table.len())];
            if matches!(t, "$I" | "$V" | "$R") {
                tokens.push(choice);
            } else {
                pending.extend(choice.split(' ').filter(|s| !s.is_empty()).rev());
            }
        }
    }
    // Mutate and join.
    let mut text = String::new();
    for token in tokens {
        match pick(24) {
            0 => continue,
            1 => text.push_str(NOISE[pick(NOISE.len())]),
            2 => {
                text.push_str(NOISE[pick(NOISE.len())]);
                text.push_str(TRIVIA[pick(TRIVIA.len())]);
                text.push_str(token);
            }
            _ => text.push_str(token),
        }
        text.push_str(TRIVIA[pick(TRIVIA.len())]);
    }
    text
}

#[test]
fn generated_texts_mostly_take_the_direct_path() {
    // The generator must produce well-formed declarations often, or the property
    // below would compare pest with itself.
    let mut rng = 0x2545_f491_u32;
    let mut accepted = 0;
    for _ in 0..500 {
        let choices: Vec<u16> = (0..200)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                (rng >> 8) as u16
            })
            .collect();
        let text = generate(&choices);
        accepted += usize::from(direct_accepts(text.trim_start()));
        assert_same(&text);
    }
    assert!(accepted > 50, "only {accepted} of 500 generated texts started with a well-formed declaration");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn direct_and_pest_agree(choices in proptest::collection::vec(any::<u16>(), 0..200)) {
        let text = generate(&choices);
        let (direct, pest) = both(&text);
        prop_assert!(direct == pest, "on {:?}:\n{}", text, first_difference(&direct, &pest));
    }
}
