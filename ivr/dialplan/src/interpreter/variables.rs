//! A call's variables and how templates and prompt lists are expanded.
//!
//! Owns: variable values, which of them are sensitive (the caller's
//! number, sensitive entries, anything set from them), `${name}`
//! expansion, and turning a prompt list into prompt paths
//! ("<language>/<id>") with spoken values expanded through `say`.
//! Must never hand a sensitive value to a trace.

use std::collections::{BTreeMap, BTreeSet};

use crate::program::{PromptItem, Template, TemplatePart};
use crate::say::{SayError, say};

/// The built-in variable holding the call's language.
pub const LANGUAGE: &str = "language";
/// The built-in variable holding the caller's number (sensitive).
pub const CALLER: &str = "caller";
pub const DIALLED: &str = "dialled";
pub const TOPIC: &str = "topic";

/// What stands for a sensitive value in a trace.
pub const REDACTED: &str = "<sensitive>";

/// A prompt list ready to play.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    pub(crate) prompts: Vec<String>,
    pub(crate) errors: Vec<SayError>,
    /// Some piece says a sensitive value.
    pub(crate) sensitive: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Variables {
    values: BTreeMap<String, String>,
    sensitive: BTreeSet<String>,
}

impl Variables {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        self.sensitive.contains(name)
    }

    /// Sets `name`; a sensitive value makes the variable sensitive for the
    /// rest of the call, a later plain one does not clear that (a value
    /// derived from it may still be around).
    pub(crate) fn set(&mut self, name: &str, value: String, sensitive: bool) {
        if sensitive {
            self.sensitive.insert(name.to_owned());
        }
        self.values.insert(name.to_owned(), value);
    }

    /// The template with every `${name}` replaced (unknown ones by ""), and
    /// whether any sensitive variable went into it.
    pub(crate) fn expand(&self, template: &Template) -> (String, bool) {
        let mut text = String::new();
        let mut sensitive = false;
        for part in &template.parts {
            match part {
                TemplatePart::Text(t) => text.push_str(t),
                TemplatePart::Variable(name) => {
                    sensitive |= self.is_sensitive(name);
                    text.push_str(self.get(name).unwrap_or(""));
                }
            }
        }
        (text, sensitive)
    }

    /// The prompt paths of `items` in `language`. A value that cannot be
    /// said is left out and reported (a sensitive one without its value);
    /// the rest still plays.
    pub(crate) fn resolve(&self, language: &str, items: &[PromptItem]) -> Resolved {
        let mut resolved = Resolved::default();
        for item in items {
            match item {
                PromptItem::Prompt(id) => resolved.prompts.push(format!("{language}/{id}")),
                PromptItem::Say { kind, value } => {
                    let (value, sensitive) = self.expand(value);
                    resolved.sensitive |= sensitive;
                    match say(language, *kind, &value) {
                        Ok(pieces) => resolved.prompts.extend(pieces.into_iter().map(|p| format!("{language}/{p}"))),
                        Err(SayError::InvalidValue { kind, .. }) if sensitive => {
                            resolved.errors.push(SayError::InvalidValue { kind, value: REDACTED.to_owned() });
                        }
                        Err(e) => resolved.errors.push(e),
                    }
                }
            }
        }
        resolved
    }
}
