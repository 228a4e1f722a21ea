//! Where something is in a text file, for messages that point at it
//! (`file:line:column: error: ...`): the dialplan and calendar files and the
//! queue and agent files share one way of counting lines and columns.
//!
//! Owns: [`Position`] and turning a byte offset into one. Must never panic
//! on any text or offset, and never read files.

/// A 1-based line and column in a source file (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    /// The line and column of a byte offset in `text` (offsets past the end
    /// point just after the last character; an offset inside a character
    /// points at the character after it).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let mut line = 1u32;
        let mut column = 1u32;
        for (i, c) in text.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                line = line.saturating_add(1);
                column = 1;
            } else {
                column = column.saturating_add(1);
            }
        }
        Position { line, column }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_columns() {
        let text = "ab\ncàd\n";
        assert_eq!(Position::of_offset(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of_offset(text, 3), Position { line: 2, column: 1 });
        // 'à' is two bytes but one column.
        assert_eq!(Position::of_offset(text, 6), Position { line: 2, column: 3 });
        assert_eq!(Position::of_offset(text, 999), Position { line: 3, column: 1 });
    }

    #[test]
    fn an_empty_text_is_all_at_the_first_line_and_column() {
        assert_eq!(Position::of_offset("", 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of_offset("", 5), Position { line: 1, column: 1 });
    }
}
