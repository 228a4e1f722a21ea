//! Spoken values built from recorded pieces: numbers, digit strings,
//! durations and clock times, in each language the line speaks
//! (ca, es, en, oc).
//!
//! INTERFACE PLACEHOLDER written by the lead so the interpreter and the
//! compiler can be built in parallel; the owner of this module replaces the
//! bodies (keeping the signatures) with the real implementation.

use crate::program::SayKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SayError {
    #[error("no spoken pieces for language `{0}`")]
    UnknownLanguage(String),
    #[error("`{value}` cannot be said as {kind:?}")]
    InvalidValue { kind: SayKind, value: String },
}

/// The prompt ids (without the language prefix) that say `value` as `kind`
/// in `language`, in playing order. Example: ("ca", Number, "21") ->
/// ["num-20", "num-and-1"] (the names are the module's own; see
/// [`pieces`]).
pub fn say(language: &str, kind: SayKind, value: &str) -> Result<Vec<String>, SayError> {
    let _ = (language, kind, value);
    todo!("say owner")
}

/// Every piece id `say` may return for `kind` in `language`: `ivr check`
/// verifies they all exist as prompts when a dialplan uses that kind.
pub fn pieces(language: &str, kind: SayKind) -> Result<Vec<String>, SayError> {
    let _ = (language, kind);
    todo!("say owner")
}
