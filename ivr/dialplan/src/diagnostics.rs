//! Positions and diagnostics shared by every part of the dialplan compiler
//! (dialplan files, calendar files, queue lists).
//!
//! Owns: how a problem in a source file is named and printed
//! (`file:line:column: error: message`). Must never panic on any input.

use std::fmt;

/// A 1-based line and column in a source file (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    /// The line and column of a byte offset in `text` (offsets past the end
    /// point just after the last character).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        let mut line = 1u32;
        let mut column = 1u32;
        for (i, c) in text.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Position { line, column }
    }
}

/// How bad a finding is: errors refuse the file, warnings are printed only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in one file, at one place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// The file as the user named it (or as a referencing file resolved it).
    pub file: String,
    pub position: Position,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, position: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: file.into(), position, severity: Severity::Error, message: message.into() }
    }

    pub fn warning(file: impl Into<String>, position: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: file.into(), position, severity: Severity::Warning, message: message.into() }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {severity}: {}", self.file, self.position.line, self.position.column, self.message)
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
    fn diagnostics_print_like_compilers_do() {
        let d = Diagnostic::error("dialplans/012.toml", Position { line: 12, column: 5 }, "unknown node `mian`");
        assert_eq!(d.to_string(), "dialplans/012.toml:12:5: error: unknown node `mian`");
    }
}
