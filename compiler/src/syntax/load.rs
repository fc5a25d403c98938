//! Bytes to source text: size limit, UTF-8, byte-order mark.

use crate::diag::{Code, Diagnostic, FileId, Label, Span};

/// Files larger than this are refused before parsing: no sensible policy is this big
/// (10,000 segments with 50,000 allows is about 5 MiB), and the limit bounds the time
/// and memory any input can cost.
pub const MAX_SOURCE_BYTES: usize = 32 * 1024 * 1024;

/// The text to compile, or why there is none. A leading UTF-8 byte-order mark is
/// dropped (editors on Windows write one); CRLF line ends are kept and parse as
/// whitespace.
///
/// On error, the returned text is what to show in the diagnostic (the file with every
/// invalid sequence replaced), and `make_diag` builds the diagnostic once the text has
/// a [`FileId`].
pub fn decode(bytes: Vec<u8>) -> Result<String, DecodeError> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(DecodeError::TooLarge { len: bytes.len() });
    }
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
            Err(DecodeError::NotUtf8 { offset, shown })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge {
        len: usize,
    },
    /// `shown` is the text with invalid sequences replaced by U+FFFD; the first one
    /// starts at byte `offset` of it.
    NotUtf8 {
        offset: usize,
        shown: String,
    },
}

impl DecodeError {
    /// The text to register in the source map for this file.
    pub fn shown_text(&self) -> String {
        match self {
            DecodeError::TooLarge { .. } => String::new(),
            DecodeError::NotUtf8 { shown, .. } => shown.clone(),
        }
    }

    pub fn to_diagnostic(&self, file: FileId) -> Diagnostic {
        match self {
            DecodeError::TooLarge { len } => Diagnostic::new(
                Code::E0002,
                format!("the file is too large ({} MiB; the limit is {} MiB)", len >> 20, MAX_SOURCE_BYTES >> 20),
                Label::new(Span::new(file, 0..0), "file starts here"),
            )
            .with_help("split the policy into files joined with `import`"),
            DecodeError::NotUtf8 { offset, .. } => Diagnostic::new(
                Code::E0001,
                "the file is not UTF-8 text",
                // U+FFFD is three bytes in the shown text.
                Label::new(Span::new(file, *offset..offset + 3), "this byte is not valid UTF-8"),
            )
            .with_help("`.seg` files are UTF-8 text; is this the right file?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_is_dropped_and_crlf_kept() {
        assert_eq!(decode(b"\xEF\xBB\xBFa\r\nb".to_vec()).unwrap(), "a\r\nb");
    }

    #[test]
    fn invalid_utf8_points_at_the_first_bad_byte() {
        match decode(b"ok\xFFrest".to_vec()) {
            Err(DecodeError::NotUtf8 { offset, shown }) => {
                assert_eq!(offset, 2);
                assert_eq!(&shown[offset..offset + 3], "\u{FFFD}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn oversized_input_is_refused_without_reading_it() {
        let err = decode(vec![b' '; MAX_SOURCE_BYTES + 1]).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }));
    }
}
