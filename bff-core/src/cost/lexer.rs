//! Counting GraphQL tokens on the raw text, before any parsing.
//!
//! The parser (pest) builds a full parse tree before async-graphql's own
//! recursion limit applies (docs/pitfalls.md #2), so a document made of 100 000
//! punctuators costs real CPU and memory to reject after parsing. This
//! counter is a single pass over the bytes with no allocation: it gives the
//! guard a token count to compare with `max_tokens` while the document is
//! still a string. It follows the GraphQL lexical grammar closely enough to
//! count (punctuators, names, numbers, strings, block strings; whitespace,
//! commas and comments are ignored); it does not validate anything.
//!
//! It also measures bracket nesting (`{`, `[`, `(`): pest recurses once per
//! level while building its tree, before async-graphql's own recursion limit
//! (64) is checked, so a document of 1,500 nested braces would recurse that
//! deep first. The guard refuses deep nesting from this count instead.

/// Counts lexical tokens of `text`; stops counting once `stop_after` is
/// passed (the caller only needs to know the count is over its limit), so
/// the answer is `min(count, stop_after + 1)`.
pub fn count_tokens(text: &str, stop_after: u64) -> u64 {
    scan(text, stop_after).tokens
}

/// What one pass over the raw text measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawMeasures {
    /// Lexical tokens (at most `stop_after + 1`).
    pub tokens: u64,
    /// Deepest bracket nesting (`{`, `[`, `(`) seen.
    pub nesting: u64,
}

/// Counts tokens and bracket nesting of `text` (see [`count_tokens`]).
pub fn scan(text: &str, stop_after: u64) -> RawMeasures {
    let bytes = text.as_bytes();
    let mut i = 0usize;
    let mut count = 0u64;
    let mut depth = 0u64;
    let mut nesting = 0u64;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            // Byte order mark: ignored like whitespace.
            0xEF if bytes.get(i..i + 3) == Some(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                count += 1;
                if bytes.get(i..i + 3) == Some(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() {
                        if bytes[i] == b'\\' && bytes.get(i + 1..i + 4) == Some(b"\"\"\"") {
                            i += 4;
                        } else if bytes.get(i..i + 3) == Some(b"\"\"\"") {
                            i += 3;
                            break;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    i += 1;
                    while i < bytes.len() {
                        match bytes[i] {
                            b'\\' => i += 2,
                            b'"' => {
                                i += 1;
                                break;
                            }
                            b'\n' | b'\r' => break,
                            _ => i += 1,
                        }
                    }
                }
            }
            b'.' if bytes.get(i..i + 3) == Some(b"...") => {
                count += 1;
                i += 3;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                count += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
            }
            b if b.is_ascii_digit() || b == b'-' => {
                count += 1;
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
            }
            b'{' | b'[' | b'(' => {
                count += 1;
                depth += 1;
                nesting = nesting.max(depth);
                i += 1;
            }
            b'}' | b']' | b')' => {
                count += 1;
                depth = depth.saturating_sub(1);
                i += 1;
            }
            // Punctuators and anything else (invalid characters count too:
            // the parser will refuse them, the count only has to be cheap).
            _ => {
                count += 1;
                i += 1;
            }
        }
        if count > stop_after {
            break;
        }
    }
    RawMeasures {
        tokens: count,
        nesting,
    }
}

#[cfg(test)]
mod tests {
    use super::count_tokens;

    #[test]
    fn tokens_are_counted_like_the_grammar() {
        assert_eq!(count_tokens("{ a }", 100), 3);
        assert_eq!(
            count_tokens("query Q($x: Int = -1) { a(b: $x), c }", 100),
            20
        );
        assert_eq!(count_tokens("# only a comment\n", 100), 0);
        assert_eq!(
            count_tokens(r#"{ a(s: "x \" y", t: """b "" c""") }"#, 100),
            11
        );
        assert_eq!(count_tokens("{ ...F } fragment F on T { a }", 100), 11);
        assert_eq!(count_tokens("{ a b c d e f }", 3), 4);
    }

    #[test]
    fn nesting_is_the_deepest_bracket_level() {
        assert_eq!(super::scan("{ a(b: [[1]]) { c } }", 100).nesting, 4);
        assert_eq!(super::scan("{ a } { b }", 100).nesting, 1);
        assert_eq!(super::scan("{ a(s: \"{{{{\") }", 100).nesting, 2);
    }
}
