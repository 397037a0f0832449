//! How the listing tools (`classify`, `similar`) write what they find: the formats, and the
//! escaping every name and cell gets on its way to a terminal or a spreadsheet.

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns: file, genres, top scores.
    Table,
    /// One row per poster: file, genres, error, a score column per genre.
    Csv,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Jsonl,
}

/// A file name or message for a terminal: control characters (escape sequences, newlines,
/// tabs) escaped, so a hostile name cannot move the cursor or forge rows.
pub fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// A CSV cell that a spreadsheet will not run as a formula: cells starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return get a leading apostrophe, unless they are a plain
/// number (the drop page's rule, so both downloads agree).
pub fn defused(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        for cell in [
            "=HYPERLINK(\"x\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert!(defused(cell).starts_with('\''), "{cell}");
        }
        assert_eq!(defused("poster.jpg"), "poster.jpg");
        assert_eq!(defused("-2"), "-2");
    }

    #[test]
    fn control_characters_are_escaped_for_terminals() {
        let hostile = "a\u{1b}[2Jb\nc\td";
        let shown = printable(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(
            shown.contains("\\u{1b}[2J") && shown.contains("\\n"),
            "{shown:?}"
        );
        assert_eq!(printable("Alien (1979) – ß.jpg"), "Alien (1979) – ß.jpg");
    }
}
