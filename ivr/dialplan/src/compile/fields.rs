//! Reading typed values out of a position-carrying TOML table.
//!
//! Owns: the wording of "unknown key", "missing key" and "wrong type"
//! diagnostics, so that every node type reports them alike. Readers never
//! fail: on a problem they record a diagnostic and hand back a default, so
//! that one run of the compiler finds every problem.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostics::{Diagnostic, Position};

/// One source file being compiled, and the diagnostics found in it so far.
pub(super) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn position(&self, span: Range<usize>) -> Position {
        Position::of_offset(self.text, span.start)
    }

    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.file, self.position(span), message)
    }
}

/// A value with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located<T> {
    pub value: T,
    pub span: Range<usize>,
}

pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// How a value is named in "found ..." messages.
pub(super) fn kind_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// The value of a TOML integer, if it fits an i64.
pub(super) fn integer(value: &DeValue<'_>) -> Option<i64> {
    match value {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

/// The entries of a table in the order they were written.
pub(super) fn entries_in_order<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(&'t Spanned<toml::de::DeString<'i>>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// Reads the keys of one table (a node, `[dialplan]`, an inline table),
/// remembering which were read so that [`Fields::finish`] reports the rest
/// as unknown.
pub(super) struct Fields<'s, 't, 'i> {
    pub source: &'s Source<'s>,
    table: &'t DeTable<'i>,
    /// How the table is named in messages: "menu node `main`", "`[dialplan]`".
    pub what: String,
    /// Where missing keys are reported: the table's name.
    pub span: Range<usize>,
    used: Vec<&'t str>,
}

impl<'s, 't, 'i> Fields<'s, 't, 'i> {
    pub fn new(
        source: &'s Source<'s>,
        table: &'t DeTable<'i>,
        what: String,
        span: Range<usize>,
    ) -> Self {
        Fields {
            source,
            table,
            what,
            span,
            used: Vec::new(),
        }
    }

    /// The raw value of `key`, marking it as known.
    pub fn get(&mut self, key: &'t str) -> Option<&'t Value<'i>> {
        self.used.push(key);
        self.table.get(key)
    }

    pub fn missing(&self, key: &str) -> Diagnostic {
        self.source.error(
            self.span.clone(),
            format!("missing key `{key}` in {}", self.what),
        )
    }

    pub fn wrong(&self, key: &str, expected: &str, value: &Value<'_>) -> Diagnostic {
        self.wrong_found(key, expected, kind_name(value.get_ref()), value.span())
    }

    pub fn wrong_found(
        &self,
        key: &str,
        expected: &str,
        found: &str,
        span: Range<usize>,
    ) -> Diagnostic {
        self.source.error(
            span,
            format!("`{key}` in {} must be {expected}, found {found}", self.what),
        )
    }

    /// A required key; its absence is reported.
    pub fn required(&mut self, d: &mut Vec<Diagnostic>, key: &'t str) -> Option<&'t Value<'i>> {
        let value = self.get(key);
        if value.is_none() {
            d.push(self.missing(key));
        }
        value
    }

    pub fn string_value(
        &self,
        d: &mut Vec<Diagnostic>,
        key: &str,
        value: &Value<'_>,
    ) -> Option<Located<String>> {
        match value.get_ref() {
            DeValue::String(s) => Some(Located {
                value: s.to_string(),
                span: value.span(),
            }),
            _ => {
                d.push(self.wrong(key, "a string", value));
                None
            }
        }
    }

    pub fn string(&mut self, d: &mut Vec<Diagnostic>, key: &'t str) -> Option<Located<String>> {
        let value = self.get(key)?;
        self.string_value(d, key, value)
    }

    pub fn required_string(
        &mut self,
        d: &mut Vec<Diagnostic>,
        key: &'t str,
    ) -> Option<Located<String>> {
        let value = self.required(d, key)?;
        self.string_value(d, key, value)
    }

    pub fn bool_or(&mut self, d: &mut Vec<Diagnostic>, key: &'t str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(value) => match value.get_ref() {
                DeValue::Boolean(b) => *b,
                _ => {
                    d.push(self.wrong(key, "true or false", value));
                    default
                }
            },
        }
    }

    /// An integer in `min..=max`.
    pub fn integer_in(
        &mut self,
        d: &mut Vec<Diagnostic>,
        key: &'t str,
        min: i64,
        max: i64,
    ) -> Option<Located<i64>> {
        let value = self.get(key)?;
        let expected = match (min, max) {
            (0, m) if m == i64::from(u32::MAX) => "a non-negative integer".to_owned(),
            (n, m) if m == i64::from(u32::MAX) => format!("an integer of at least {n}"),
            (n, m) => format!("an integer from {n} to {m}"),
        };
        match value.get_ref() {
            DeValue::Integer(_) => match integer(value.get_ref()) {
                Some(n) if (min..=max).contains(&n) => Some(Located {
                    value: n,
                    span: value.span(),
                }),
                _ => {
                    let written = self.source.text.get(value.span()).unwrap_or("");
                    d.push(self.wrong_found(key, &expected, written, value.span()));
                    None
                }
            },
            _ => {
                d.push(self.wrong(key, &expected, value));
                None
            }
        }
    }

    pub fn u32_or(&mut self, d: &mut Vec<Diagnostic>, key: &'t str, min: u32, default: u32) -> u32 {
        self.integer_in(d, key, i64::from(min), i64::from(u32::MAX))
            .map_or(default, |n| u32::try_from(n.value).unwrap_or(default))
    }

    /// A table value (inline or not).
    pub fn table_value<'v>(
        &self,
        d: &mut Vec<Diagnostic>,
        key: &str,
        value: &'v Value<'i>,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                d.push(self.wrong(key, "a table", value));
                None
            }
        }
    }

    /// Reports every key that no reader asked for, listing the known ones
    /// (every reader asks for its key whether or not it is present).
    pub fn finish(self, d: &mut Vec<Diagnostic>) {
        let mut known: Vec<&str> = Vec::new();
        for key in &self.used {
            if !known.contains(key) {
                known.push(key);
            }
        }
        for (key, _) in entries_in_order(self.table) {
            if !known.contains(&key.get_ref().as_ref()) {
                let message = format!(
                    "unknown key `{}` in {} (expected {})",
                    key.get_ref(),
                    self.what,
                    known.join(", ")
                );
                d.push(self.source.error(key.span(), message));
            }
        }
    }
}
