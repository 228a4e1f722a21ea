//! Positions and diagnostics shared by every part of the dialplan compiler
//! (dialplan files, calendar files, queue lists).
//!
//! Owns: how a problem in a source file is named and printed
//! (`file:line:column: error: message`). Must never panic on any input.

use std::fmt;

/// A 1-based line and column in a source file (columns count characters).
pub use ivr_text::Position;

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
    fn diagnostics_print_like_compilers_do() {
        let d = Diagnostic::error("dialplans/012.toml", Position { line: 12, column: 5 }, "unknown node `mian`");
        assert_eq!(d.to_string(), "dialplans/012.toml:12:5: error: unknown node `mian`");
    }
}
