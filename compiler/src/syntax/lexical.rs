//! A line scan that pest cannot do well: collect comments (for `fmt`), and find
//! unterminated strings and non-ASCII characters, which get their own diagnostics
//! instead of a generic "unexpected input".

use crate::diag::{Code, Diagnostic, FileId, Label, Span};

use super::ast::Comment;

/// What the scan found.
#[derive(Debug, Default)]
pub struct Lexical {
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
    /// Byte ranges of lines that already have a lexical error; parse errors there are
    /// not reported again.
    pub bad_lines: Vec<std::ops::Range<usize>>,
}

/// Scans the whole text once (linear time).
pub fn scan(file: FileId, text: &str) -> Lexical {
    let mut out = Lexical::default();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        scan_line(file, line, line_start, &mut out);
        line_start += line.len();
    }
    out
}

fn scan_line(file: FileId, line: &str, base: usize, out: &mut Lexical) {
    // Byte by byte: every byte that matters is ASCII, and a non-ASCII character is
    // decoded where it starts (inside a string, its bytes never match an ASCII one).
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut string_start: Option<usize> = None;
    let mut bad = false;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(start) = string_start {
            match b {
                // The escaped character is skipped whole: it may be the line end.
                b'\\' => i += 1 + line[i + 1..].chars().next().map_or(0, char::len_utf8),
                b'"' => {
                    string_start = None;
                    i += 1;
                }
                b'\n' | b'\r' => {
                    unterminated(file, base + start, base + i, out);
                    bad = true;
                    string_start = None;
                    break;
                }
                _ => i += 1,
            }
            continue;
        }
        match b {
            b'"' => {
                string_start = Some(i);
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let text = line[i..].trim_end_matches(['\n', '\r']);
                out.comments
                    .push(Comment { text: text.to_string(), span: Span::new(file, base + i..base + i + text.len()) });
                break;
            }
            b if b.is_ascii() => i += 1,
            _ => {
                let c = line[i..].chars().next().expect("a character starts here");
                if c != '\u{FEFF}' {
                    out.diagnostics.push(non_ascii(file, base + i, c));
                    bad = true;
                }
                i += c.len_utf8();
            }
        }
    }
    if let Some(start) = string_start {
        // The string ran to the end of the file without a newline.
        unterminated(file, base + start, base + line.len(), out);
        bad = true;
    }
    if bad {
        out.bad_lines.push(base..base + line.len());
    }
}

fn unterminated(file: FileId, start: usize, end: usize, out: &mut Lexical) {
    out.diagnostics.push(
        Diagnostic::new(
            Code::E0102,
            "unterminated string",
            Label::new(Span::new(file, start..end), "this string has no closing `\"` on its line"),
        )
        .with_help("strings end on the line they start on; add the closing `\"`"),
    );
}

fn non_ascii(file: FileId, offset: usize, c: char) -> Diagnostic {
    let span = Span::new(file, offset..offset + c.len_utf8());
    let code_point = format!("U+{:04X}", c as u32);
    let diag = Diagnostic::new(
        Code::E0103,
        format!("character {code_point} is not allowed outside strings and comments"),
        Label::new(span, format!("{code_point} `{c}`")),
    );
    match look_alike(c) {
        Some(ascii) => diag.with_help(format!(
            "this looks like the ASCII `{ascii}` but is not; names and bare values are ASCII: type `{ascii}`"
        )),
        None => diag.with_help("names and bare values are ASCII; quote other text in \"...\""),
    }
}

/// ASCII characters that common non-ASCII characters are mistaken for (Cyrillic and
/// Greek letters, typographic quotes and dashes, full-width forms).
fn look_alike(c: char) -> Option<char> {
    const TABLE: &[(char, char)] = &[
        ('а', 'a'),
        ('е', 'e'),
        ('о', 'o'),
        ('р', 'p'),
        ('с', 'c'),
        ('у', 'y'),
        ('х', 'x'),
        ('і', 'i'),
        ('ј', 'j'),
        ('ѕ', 's'),
        ('ԁ', 'd'),
        ('һ', 'h'),
        ('ԛ', 'q'),
        ('ԝ', 'w'),
        ('А', 'A'),
        ('В', 'B'),
        ('Е', 'E'),
        ('К', 'K'),
        ('М', 'M'),
        ('Н', 'H'),
        ('О', 'O'),
        ('Р', 'P'),
        ('С', 'C'),
        ('Т', 'T'),
        ('Х', 'X'),
        ('α', 'a'),
        ('ο', 'o'),
        ('ν', 'v'),
        ('ι', 'i'),
        ('κ', 'k'),
        ('ρ', 'p'),
        ('τ', 't'),
        ('Α', 'A'),
        ('Β', 'B'),
        ('Ε', 'E'),
        ('Ι', 'I'),
        ('Κ', 'K'),
        ('Μ', 'M'),
        ('Ν', 'N'),
        ('Ο', 'O'),
        ('Ρ', 'P'),
        ('Τ', 'T'),
        ('\u{2018}', '\''),
        ('\u{2019}', '\''),
        ('\u{201C}', '"'),
        ('\u{201D}', '"'),
        ('\u{2010}', '-'),
        ('\u{2011}', '-'),
        ('\u{2012}', '-'),
        ('\u{2013}', '-'),
        ('\u{2014}', '-'),
        ('\u{2212}', '-'),
        ('\u{00A0}', ' '),
        ('\u{2192}', '>'),
    ];
    if let Some(&(_, ascii)) = TABLE.iter().find(|(u, _)| *u == c) {
        return Some(ascii);
    }
    // Full-width ASCII forms U+FF01..U+FF5E map onto '!'..'~'.
    let cp = c as u32;
    if (0xFF01..=0xFF5E).contains(&cp) {
        return char::from_u32(cp - 0xFF01 + 0x21);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Lexical {
        scan(FileId(0), text)
    }

    #[test]
    fn comments_are_collected_outside_strings_only() {
        let lex = run("host \"a//b\" // real\n// whole line\r\n");
        let texts: Vec<_> = lex.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["// real", "// whole line"]);
        assert!(lex.diagnostics.is_empty());
    }

    #[test]
    fn unterminated_strings_stop_at_the_line_end() {
        let lex = run("host \"abc\nport x 1/tcp\n");
        assert_eq!(lex.diagnostics.len(), 1);
        assert_eq!(lex.diagnostics[0].code, Code::E0102);
        assert_eq!(lex.diagnostics[0].primary.span.range(), 5..9);
        let lex = run("host \"abc");
        assert_eq!(lex.diagnostics[0].code, Code::E0102);
    }

    #[test]
    fn look_alike_letters_are_named() {
        let lex = run("segment wеb in shop {}\n"); // Cyrillic е
        assert_eq!(lex.diagnostics.len(), 1);
        let d = &lex.diagnostics[0];
        assert_eq!(d.code, Code::E0103);
        assert!(d.message.contains("U+0435"), "{}", d.message);
        assert!(d.help.as_deref().unwrap().contains("`e`"));
    }

    #[test]
    fn non_ascii_in_strings_and_comments_is_fine() {
        let lex = run("host \"dé.example\" // café\n");
        assert!(lex.diagnostics.is_empty());
    }
}
