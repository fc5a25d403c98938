//! Hostile and malformed input through `driver::compile`: never a panic, always the
//! expected code, and errors reported as errors.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use segc::diag::Code;
use segc::driver::{self, Compiled};

const SHOP: &str = include_str!("../../examples/shop.seg");

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write case");
    path
}

fn compile_bytes(bytes: &[u8]) -> Compiled {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "policy.seg", bytes);
    driver::compile(&path).expect("the root file is readable")
}

fn codes(c: &Compiled) -> Vec<Code> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

fn assert_error(c: &Compiled, code: Code) {
    assert!(c.has_errors(), "expected errors, got {:?}", codes(c));
    assert!(codes(c).contains(&code), "expected {code} among {:?}", codes(c));
}

#[test]
fn empty_file() {
    assert_error(&compile_bytes(b""), Code::E0003);
}

#[test]
fn binary_junk() {
    let junk: Vec<u8> =
        (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).chain([0, 0xff, 0xfe, 0xc3]).collect();
    assert_error(&compile_bytes(&junk), Code::E0001);
}

#[test]
fn bom_and_crlf_check_like_the_original() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(SHOP.replace('\n', "\r\n").as_bytes());
    let copy = compile_bytes(&bytes);
    let original = compile_bytes(SHOP.as_bytes());
    assert_eq!(codes(&copy), codes(&original));
    assert_eq!(codes(&original), vec![Code::W0104]);
    assert!(!copy.has_errors());
}

#[test]
fn fifty_megabytes_are_refused_quickly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.seg");
    let file = fs::File::create(&path).expect("create");
    file.set_len(50 * 1024 * 1024).expect("grow");
    let start = std::time::Instant::now();
    let c = driver::compile(&path).expect("readable");
    assert_error(&c, Code::E0002);
    assert!(start.elapsed().as_secs() < 5, "took {:?}", start.elapsed());
}

#[test]
fn unterminated_strings() {
    let c =
        compile_bytes(b"segment web in shop {\n  trust internet\n  select \"app=web\n}\nexpose web:http { host \"x");
    assert_error(&c, Code::E0102);
}

#[test]
fn look_alike_letters_in_names() {
    let c = compile_bytes("segment w\u{0435}b in shop {\n  trust internet\n  select app=web\n}\n".as_bytes());
    assert_error(&c, Code::E0103);
}

#[test]
fn port_numbers_out_of_range() {
    for number in ["0", "70000"] {
        let text =
            format!("segment web in shop {{\n  trust internet\n  select app=web\n  port http {number}/http\n}}\n");
        assert_error(&compile_bytes(text.as_bytes()), Code::E0401);
    }
}

#[test]
fn label_value_of_64_characters() {
    let text = format!("segment web in shop {{\n  trust internet\n  select app={}\n}}\n", "v".repeat(64));
    assert_error(&compile_bytes(text.as_bytes()), Code::E0405);
}

#[test]
fn a_file_importing_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(
        dir.path(),
        "self.seg",
        b"import \"self.seg\"\nsegment web in shop {\n  trust internet\n  select app=web\n}\n",
    );
    let c = driver::compile(&path).expect("readable");
    assert_error(&c, Code::E0302);
}

#[test]
fn a_missing_root_is_an_io_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(driver::compile(&dir.path().join("nope.seg")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = driver::compile_text("fuzz.seg", &text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = compile_bytes(&bytes);
    }

    #[test]
    fn shop_with_a_slice_removed_never_panics(start in 0usize..2000, len in 0usize..200) {
        let start = start.min(SHOP.len());
        let end = (start + len).min(SHOP.len());
        if SHOP.is_char_boundary(start) && SHOP.is_char_boundary(end) {
            let text = format!("{}{}", &SHOP[..start], &SHOP[end..]);
            let c = driver::compile_text("shop.seg", &text);
            let _ = driver::lower(&c, None);
        }
    }
}

#[test]
fn thousands_of_segments_in_one_namespace_check_quickly() {
    let n = 3000;
    let mut text = String::from("trust {\n  app\n}\n");
    for i in 0..n {
        text.push_str(&format!(
            "segment s{i} in big {{\n  trust app\n  select app=s{i} tier=back\n  port http 8080/http\n}}\n"
        ));
    }
    for i in 1..n {
        text.push_str(&format!("allow s{} -> s{i}:http\n", i - 1));
    }
    text.push_str(&format!("forbid s0 ->* s{}\n", n - 1));
    let start = std::time::Instant::now();
    let c = driver::compile_text("big.seg", &text);
    let elapsed = start.elapsed();
    assert_eq!(codes(&c), vec![Code::E0702]);
    assert!(elapsed.as_secs() < 10, "took {elapsed:?}");
}

#[test]
fn a_file_imported_by_two_routes_is_loaded_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "a.seg", b"import \"common.seg\"\n");
    write(dir.path(), "b.seg", b"import \"common.seg\"\n");
    write(dir.path(), "common.seg", b"segment web in shop {\n  trust internet\n  select app=web\n}\n");
    let root = write(dir.path(), "main.seg", b"import \"a.seg\"\nimport \"b.seg\"\n");
    let c = driver::compile(&root).expect("readable");
    assert_eq!(codes(&c), vec![Code::W0103], "no duplicate `web`: common.seg is loaded once");
}
