//! Compiling one `[nodes.<name>]` table into a [`NodeKind`].
//!
//! Owns: the keys, types and defaults of every node type, and the checks
//! that need only the node itself plus the dialplan's names (node names,
//! languages, queues, schedules). Whole-program checks (reachability,
//! loops, prompts per language) are `graph`'s and `mod`'s.
//!
//! Targets that do not resolve become [`UNRESOLVED`] after their error is
//! recorded, so the whole file is still checked; a program with any error
//! never leaves the compiler.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::fields::{Fields, Located, Source, Value, entries_in_order, kind_name};
use super::template::{TemplateError, constant_text, is_variable_name, parse_template};
use crate::calendar::{Calendar, ScheduleId};
use crate::diagnostics::Diagnostic;
use crate::program::{
    Confirm, NodeId, NodeKind, PromptItem, PromptList, Retries, SayKind, SurveyQuestion, Template,
};

/// Stands for a target that did not resolve (an error was reported).
pub(super) const UNRESOLVED: NodeId = NodeId(u32::MAX);

/// The node types, as written after `type =`.
pub(super) const NODE_TYPES: &[&str] = &[
    "play", "menu", "collect", "language", "when", "queue", "callback", "record", "survey",
    "transfer", "goto", "sub", "return", "set", "say", "hangup",
];

/// The calendar as far as nodes care.
pub(super) enum CalendarState<'a> {
    /// `[dialplan]` names no calendar file.
    NotNamed,
    /// Named but unreadable or invalid (already reported).
    Broken,
    Loaded { file: &'a str, calendar: &'a Calendar },
}

/// The queue names as far as nodes care.
pub(super) enum QueuesState<'a> {
    NotNamed,
    Broken,
    Loaded { file: &'a str, names: &'a [String] },
}

/// A spoken value used somewhere: checked against the prompt catalogue.
pub(super) struct SayUse {
    pub kind: SayKind,
    pub span: Range<usize>,
    pub value_span: Range<usize>,
    /// The value when it has no variables (checked to be sayable).
    pub constant: Option<String>,
}

/// What every node compilation shares.
pub(super) struct Context<'a> {
    pub source: &'a Source<'a>,
    pub ids: &'a BTreeMap<String, NodeId>,
    pub languages: &'a [Located<String>],
    pub calendar: CalendarState<'a>,
    pub queues: QueuesState<'a>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every recorded prompt id used, where.
    pub prompt_uses: Vec<Located<String>>,
    pub say_uses: Vec<SayUse>,
    pub warnings: Vec<Diagnostic>,
}

const BUILT_IN_VARIABLES: &[&str] = &["language", "dialled", "caller"];

impl<'a> Context<'a> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let diagnostic = self.source.error(span, message);
        self.diagnostics.push(diagnostic);
    }

    /// A node name written as a value.
    fn resolve(&mut self, name: &Located<String>) -> NodeId {
        match self.ids.get(&name.value) {
            Some(id) => *id,
            None => {
                self.error(name.span.clone(), unknown_node(&name.value, self.ids));
                UNRESOLVED
            }
        }
    }

    fn target(&mut self, f: &mut Fields<'_, '_, '_>, key: &'static str) -> NodeId {
        match f.required_string(&mut self.diagnostics, key) {
            Some(name) => self.resolve(&name),
            None => UNRESOLVED,
        }
    }

    fn optional_target(&mut self, f: &mut Fields<'_, '_, '_>, key: &'static str) -> Option<NodeId> {
        let name = f.string(&mut self.diagnostics, key)?;
        Some(self.resolve(&name))
    }

    fn seconds(
        &mut self,
        f: &mut Fields<'_, '_, '_>,
        key: &'static str,
        min: u32,
        default: u32,
    ) -> Duration {
        Duration::from_secs(u64::from(f.u32_or(
            &mut self.diagnostics,
            key,
            min,
            default,
        )))
    }

    /// A keypad key written as a one-character string.
    fn key_value(&mut self, f: &Fields<'_, '_, '_>, key: &str, value: &Value<'_>) -> Option<char> {
        let written = f.string_value(&mut self.diagnostics, key, value)?;
        self.keypad_key(&written)
    }

    fn keypad_key(&mut self, written: &Located<String>) -> Option<char> {
        let mut chars = written.value.chars();
        match (chars.next(), chars.next()) {
            (Some(c @ ('0'..='9' | '*' | '#')), None) => Some(c),
            _ => {
                self.error(
                    written.span.clone(),
                    format!(
                        "invalid key `{}`: a key is one of 0-9, * or #",
                        written.value
                    ),
                );
                None
            }
        }
    }

    fn optional_key(&mut self, f: &mut Fields<'_, '_, '_>, key: &'static str) -> Option<char> {
        let value = f.get(key)?;
        self.key_value(f, key, value)
    }

    fn key_or(&mut self, f: &mut Fields<'_, '_, '_>, key: &'static str, default: char) -> char {
        self.optional_key(f, key).unwrap_or(default)
    }

    fn template(&mut self, written: &Located<String>) -> Template {
        match parse_template(&written.value) {
            Ok(t) => t,
            Err(e) => {
                self.template_error(written.span.clone(), &e);
                Template { parts: Vec::new() }
            }
        }
    }

    fn template_error(&mut self, span: Range<usize>, error: &TemplateError) {
        self.error(span, error.to_string());
    }

    fn variable_name(&mut self, written: &Located<String>) -> bool {
        if is_variable_name(&written.value) {
            return true;
        }
        self.error(
            written.span.clone(),
            format!(
                "invalid variable name `{}`: names are lowercase letters, digits and `_`",
                written.value
            ),
        );
        false
    }

    /// A regular expression the whole entry must match.
    fn pattern(&mut self, written: &Located<String>) -> Option<String> {
        match regex::Regex::new(&written.value) {
            Ok(_) => Some(written.value.clone()),
            Err(e) => {
                self.error(
                    written.span.clone(),
                    format!("invalid pattern `{}`: {}", written.value, regex_reason(&e)),
                );
                None
            }
        }
    }

    /// A prompt list: `["id", { say = "number", value = "${x}" }]`.
    fn prompts(&mut self, f: &mut Fields<'_, '_, '_>, key: &'static str, need: Need) -> PromptList {
        let value = match (f.get(key), need) {
            (Some(v), _) => v,
            (None, Need::Optional) => return Vec::new(),
            (None, Need::NonEmpty) => {
                self.diagnostics.push(f.missing(key));
                return Vec::new();
            }
        };
        self.prompt_list(f, key, value, need)
    }

    fn prompt_list(
        &mut self,
        f: &Fields<'_, '_, '_>,
        key: &str,
        value: &Value<'_>,
        need: Need,
    ) -> PromptList {
        let DeValue::Array(items) = value.get_ref() else {
            self.diagnostics
                .push(f.wrong(key, "a list of prompts", value));
            return Vec::new();
        };
        if items.is_empty() && need == Need::NonEmpty {
            self.error(
                value.span(),
                format!("`{key}` in {} must not be empty", f.what),
            );
        }
        let mut list = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(id) => {
                    let id = Located {
                        value: id.to_string(),
                        span: item.span(),
                    };
                    if is_prompt_id(&id.value) {
                        self.prompt_uses.push(id.clone());
                        list.push(PromptItem::Prompt(id.value));
                    } else {
                        self.error(
                            id.span,
                            format!(
                                "invalid prompt id `{}`: ids are lowercase letters, digits, `-` and `_`",
                                id.value
                            ),
                        );
                    }
                }
                DeValue::Table(table) => {
                    let what = format!("a spoken value of {}", f.what);
                    let mut say = Fields::new(f.source, table, what, item.span());
                    if let Some(item) = self.say_item(&mut say) {
                        list.push(item);
                    }
                    say.finish(&mut self.diagnostics);
                }
                _ => {
                    let found = kind_name(item.get_ref());
                    self.diagnostics.push(f.wrong_found(
                        key,
                        "a list of prompt ids and { say = ..., value = ... } tables",
                        &format!("{found} in the list"),
                        item.span(),
                    ));
                }
            }
        }
        list
    }

    /// `say = "<kind>", value = "<template>"` (a table in a prompt list, or
    /// a `say` node).
    fn say_item(&mut self, f: &mut Fields<'_, '_, '_>) -> Option<PromptItem> {
        let kind = f.required_string(&mut self.diagnostics, "say");
        let value = f.required(&mut self.diagnostics, "value");
        let kind_span = kind.as_ref().map(|k| k.span.clone());
        let kind = kind.and_then(|k| match say_kind(&k.value) {
            Some(kind) => Some(kind),
            None => {
                self.error(
                    k.span,
                    format!(
                        "unknown say kind `{}`: expected number, digits, duration or time",
                        k.value
                    ),
                );
                None
            }
        });
        let value = value.and_then(|v| match v.get_ref() {
            DeValue::String(s) => Some(Located {
                value: s.to_string(),
                span: v.span(),
            }),
            // `value = 1_000` says "1000"; an integer past i64 keeps its text.
            DeValue::Integer(_) => Some(Located {
                value: super::fields::integer(v.get_ref()).map_or_else(
                    || f.source.text.get(v.span()).unwrap_or("").to_owned(),
                    |n| n.to_string(),
                ),
                span: v.span(),
            }),
            _ => {
                self.diagnostics
                    .push(f.wrong("value", "a string or an integer", v));
                None
            }
        });
        let (kind, value) = (kind?, value?);
        let (template, constant) = match parse_template(&value.value) {
            Ok(t) => {
                let constant = constant_text(&t);
                (t, constant)
            }
            Err(e) => {
                self.template_error(value.span.clone(), &e);
                (Template { parts: Vec::new() }, None)
            }
        };
        self.say_uses.push(SayUse {
            kind,
            span: kind_span.unwrap_or(value.span.clone()),
            value_span: value.span,
            constant,
        });
        Some(PromptItem::Say {
            kind,
            value: template,
        })
    }

    /// `retries`, `no_input`, `invalid` and `default` of a menu, collect or
    /// callback.
    fn retries(&mut self, f: &mut Fields<'_, '_, '_>) -> Retries {
        Retries {
            retries: f.u32_or(&mut self.diagnostics, "retries", 0, 2),
            no_input: self.prompts(f, "no_input", Need::Optional),
            invalid: self.prompts(f, "invalid", Need::Optional),
            exhausted: self.target(f, "default"),
        }
    }

    /// `{ prefix = [...], question = [...], yes = "1", no = "2" }`.
    fn confirm(
        &mut self,
        f: &mut Fields<'_, '_, '_>,
        key: &'static str,
        required: bool,
    ) -> Option<Confirm> {
        let value = if required {
            f.required(&mut self.diagnostics, key)
        } else {
            f.get(key)
        }?;
        let table = f.table_value(&mut self.diagnostics, key, value)?;
        let what = format!("`{key}` of {}", f.what);
        let mut c = Fields::new(f.source, table, what, value.span());
        let confirm = Confirm {
            prefix: self.prompts(&mut c, "prefix", Need::NonEmpty),
            question: self.prompts(&mut c, "question", Need::NonEmpty),
            yes_key: self.key_or(&mut c, "yes", '1'),
            no_key: self.key_or(&mut c, "no", '2'),
        };
        if confirm.yes_key == confirm.no_key {
            self.error(
                value.span(),
                format!(
                    "`yes` and `no` of {} are the same key `{}`",
                    c.what, confirm.yes_key
                ),
            );
        }
        c.finish(&mut self.diagnostics);
        Some(confirm)
    }

    /// A table of variable names to templates (`set` values, queue skills).
    fn assignments(
        &mut self,
        f: &mut Fields<'_, '_, '_>,
        key: &'static str,
        required: bool,
    ) -> Vec<(String, Template)> {
        let value = if required {
            f.required(&mut self.diagnostics, key)
        } else {
            f.get(key)
        };
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(table) = f.table_value(&mut self.diagnostics, key, value) else {
            return Vec::new();
        };
        if required && table.is_empty() {
            self.error(
                value.span(),
                format!("`{key}` in {} must not be empty", f.what),
            );
        }
        let mut list = Vec::new();
        for (name, value) in entries_in_order(table) {
            let name = Located {
                value: name.get_ref().to_string(),
                span: name.span(),
            };
            let text = f.string_value(&mut self.diagnostics, &name.value, value);
            if self.variable_name(&name)
                && let Some(text) = text
            {
                list.push((name.value, self.template(&text)));
            }
        }
        list
    }

    fn queue(&mut self, f: &mut Fields<'_, '_, '_>) -> String {
        let Some(name) = f.required_string(&mut self.diagnostics, "queue") else {
            return String::new();
        };
        match &self.queues {
            QueuesState::Loaded { names, .. } if names.contains(&name.value) => {}
            QueuesState::Loaded { file, names } => {
                let known = if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                };
                let message = format!("unknown queue `{}` (queues in {file}: {known})", name.value);
                self.error(name.span.clone(), message);
            }
            QueuesState::NotNamed => {
                let message = format!(
                    "unknown queue `{}`: `[dialplan]` names no `queues` file",
                    name.value
                );
                self.error(name.span.clone(), message);
            }
            QueuesState::Broken => {}
        }
        name.value
    }

    fn schedule(&mut self, f: &mut Fields<'_, '_, '_>) -> ScheduleId {
        let Some(name) = f.required_string(&mut self.diagnostics, "schedule") else {
            return ScheduleId(u32::MAX);
        };
        match &self.calendar {
            CalendarState::Loaded { file, calendar } => match calendar.schedule(&name.value) {
                Some(id) => id,
                None => {
                    let known: Vec<&str> = calendar.schedule_names().collect();
                    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                    let message = format!("unknown schedule `{}` (schedules in {file}: {known})", name.value);
                    self.error(name.span.clone(), message);
                    ScheduleId(u32::MAX)
                }
            },
            CalendarState::NotNamed => {
                let message = format!(
                    "unknown schedule `{}`: `[dialplan]` names no `calendar` file",
                    name.value
                );
                self.error(name.span.clone(), message);
                ScheduleId(u32::MAX)
            }
            CalendarState::Broken => ScheduleId(u32::MAX),
        }
    }
}

/// "unknown node `mian` (did you mean `main`?)": the hint names the closest
/// node within two edits, if there is one.
pub(super) fn unknown_node(name: &str, ids: &BTreeMap<String, NodeId>) -> String {
    let closest = ids
        .keys()
        .map(|known| (edit_distance(name, known), known))
        .filter(|(d, known)| *d <= 2 && *d < known.chars().count())
        .min();
    match closest {
        Some((_, known)) => format!("unknown node `{name}` (did you mean `{known}`?)"),
        None => format!("unknown node `{name}`"),
    }
}

/// Levenshtein distance, with a swap of two neighbours counted as one
/// edit ("mian" -> "main"), over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

/// Whether a prompt list may be absent or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Optional,
    NonEmpty,
}

pub(super) fn say_kind(name: &str) -> Option<SayKind> {
    Some(match name {
        "number" => SayKind::Number,
        "digits" => SayKind::Digits,
        "duration" => SayKind::Duration,
        "time" => SayKind::Time,
        _ => return None,
    })
}

/// Prompt ids name files: lowercase letters, digits, `-` and `_`.
fn is_prompt_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

/// The one-line reason of a regex error (its display spans several lines).
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("error: "))
        .map_or_else(
            || text.lines().last().unwrap_or("invalid").trim().to_owned(),
            str::to_owned,
        )
}

/// Compiles one node table; `None` when its type is missing or unknown
/// (reported).
pub(super) fn compile_node(
    cx: &mut Context<'_>,
    name: &str,
    name_span: Range<usize>,
    table: &DeTable<'_>,
) -> Option<NodeKind> {
    let source = cx.source;
    let mut f = Fields::new(source, table, format!("node `{name}`"), name_span);
    let node_type = f.required_string(&mut cx.diagnostics, "type")?;
    if !NODE_TYPES.contains(&node_type.value.as_str()) {
        cx.error(
            node_type.span,
            format!(
                "unknown node type `{}`: expected one of {}",
                node_type.value,
                NODE_TYPES.join(", ")
            ),
        );
        return None;
    }
    f.what = format!("{} node `{name}`", node_type.value);
    let kind = match node_type.value.as_str() {
        "play" => NodeKind::Play {
            prompts: cx.prompts(&mut f, "prompts", Need::NonEmpty),
            barge_in: f.bool_or(&mut cx.diagnostics, "barge_in", true),
            next: cx.target(&mut f, "next"),
        },
        "say" => {
            let item = cx.say_item(&mut f);
            NodeKind::Play {
                prompts: item.into_iter().collect(),
                barge_in: f.bool_or(&mut cx.diagnostics, "barge_in", true),
                next: cx.target(&mut f, "next"),
            }
        }
        "menu" => menu(cx, &mut f, name),
        "collect" => collect(cx, &mut f),
        "language" => {
            let language = f.required_string(&mut cx.diagnostics, "language");
            if let Some(l) = &language
                && !cx.languages.iter().any(|known| known.value == l.value)
            {
                let known: Vec<_> = cx.languages.iter().map(|l| l.value.as_str()).collect();
                cx.error(
                    l.span.clone(),
                    format!(
                        "unknown language `{}`: the dialplan's languages are {}",
                        l.value,
                        known.join(", ")
                    ),
                );
            }
            NodeKind::Language {
                language: language.map(|l| l.value).unwrap_or_default(),
                next: cx.target(&mut f, "next"),
            }
        }
        "when" => NodeKind::When {
            schedule: cx.schedule(&mut f),
            open: cx.target(&mut f, "open"),
            closed: cx.target(&mut f, "closed"),
        },
        "queue" => queue(cx, &mut f),
        "callback" => {
            let prompt = cx.prompts(&mut f, "prompt", Need::NonEmpty);
            let queue = cx.queue(&mut f);
            let use_caller_key = cx.key_or(&mut f, "use_caller_key", '1');
            let pattern = f
                .required_string(&mut cx.diagnostics, "pattern")
                .and_then(|p| cx.pattern(&p));
            let confirm = cx.confirm(&mut f, "confirm", true);
            NodeKind::Callback {
                prompt,
                queue,
                use_caller_key,
                pattern: pattern.unwrap_or_default(),
                confirm: confirm.unwrap_or(Confirm {
                    prefix: vec![],
                    question: vec![],
                    yes_key: '1',
                    no_key: '2',
                }),
                retries: cx.retries(&mut f),
                next: cx.target(&mut f, "next"),
            }
        }
        "record" => NodeKind::Record {
            prompt: cx.prompts(&mut f, "prompt", Need::Optional),
            beep: f.bool_or(&mut cx.diagnostics, "beep", true),
            max_length: cx.seconds(&mut f, "max_secs", 1, 120),
            silence: cx.seconds(&mut f, "silence_secs", 1, 5),
            next: cx.target(&mut f, "next"),
        },
        "survey" => survey(cx, &mut f),
        "transfer" => {
            let target = f.required_string(&mut cx.diagnostics, "target");
            let template = target.as_ref().map(|t| cx.template(t));
            if let (Some(t), Some(template)) = (&target, &template) {
                let literal_start = match template.parts.first() {
                    Some(crate::program::TemplatePart::Text(text)) => Some(text.as_str()),
                    Some(crate::program::TemplatePart::Variable(_)) => None,
                    None => Some(""),
                };
                if literal_start.is_some_and(|s| !(s.starts_with("sip:") || s.starts_with("sips:")))
                {
                    cx.error(
                        t.span.clone(),
                        format!(
                            "transfer target `{}` is not a SIP URI (sip: or sips:)",
                            t.value
                        ),
                    );
                }
            }
            NodeKind::Transfer {
                target: template.unwrap_or(Template { parts: vec![] }),
                on_failure: cx.target(&mut f, "on_failure"),
            }
        }
        "goto" => NodeKind::Goto {
            target: cx.target(&mut f, "target"),
        },
        "sub" => NodeKind::Sub {
            target: cx.target(&mut f, "target"),
            next: cx.target(&mut f, "next"),
        },
        "return" => NodeKind::Return,
        "set" => {
            let assignments = cx.assignments(&mut f, "values", true);
            for (variable, _) in &assignments {
                if BUILT_IN_VARIABLES.contains(&variable.as_str()) {
                    let warning = Diagnostic::warning(
                        source.file,
                        source.position(f.span.clone()),
                        format!("set node `{name}` overwrites the built-in variable `{variable}`"),
                    );
                    cx.warnings.push(warning);
                }
            }
            NodeKind::Set {
                assignments,
                next: cx.target(&mut f, "next"),
            }
        }
        _ => NodeKind::Hangup {
            prompts: cx.prompts(&mut f, "prompts", Need::Optional),
        },
    };
    f.finish(&mut cx.diagnostics);
    Some(kind)
}

fn menu(cx: &mut Context<'_>, f: &mut Fields<'_, '_, '_>, name: &str) -> NodeKind {
    let prompt = cx.prompts(f, "prompt", Need::NonEmpty);
    let mut options = BTreeMap::new();
    if let Some(value) = f.required(&mut cx.diagnostics, "options")
        && let Some(table) = f.table_value(&mut cx.diagnostics, "options", value)
    {
        if table.is_empty() {
            cx.error(
                value.span(),
                format!("`options` in {} must not be empty", f.what),
            );
        }
        for (key, target) in entries_in_order(table) {
            let key = Located {
                value: key.get_ref().to_string(),
                span: key.span(),
            };
            let key_char = cx.keypad_key(&key);
            let target = f
                .string_value(&mut cx.diagnostics, &key.value, target)
                .map(|t| cx.resolve(&t));
            if let Some(k) = key_char {
                options.insert(k, target.unwrap_or(UNRESOLVED));
            }
        }
    }
    let timeout = cx.seconds(f, "timeout_secs", 1, 5);
    let retries = cx.retries(f);
    let mut sets = BTreeMap::new();
    if let Some(value) = f.get("set")
        && let Some(table) = f.table_value(&mut cx.diagnostics, "set", value)
    {
        for (key, assignment) in entries_in_order(table) {
            let key = Located {
                value: key.get_ref().to_string(),
                span: key.span(),
            };
            let Some(key_char) = cx.keypad_key(&key) else {
                continue;
            };
            if !options.contains_key(&key_char) {
                cx.error(
                    key.span.clone(),
                    format!("key `{key_char}` in `set` is not an option of menu `{name}`"),
                );
            }
            let what = format!("`set` for key `{key_char}` of menu `{name}`");
            let Some(inner) = f.table_value(&mut cx.diagnostics, &key.value, assignment) else {
                continue;
            };
            let pairs = entries_in_order(inner);
            if pairs.len() != 1 {
                cx.error(
                    assignment.span(),
                    format!("{what} must set exactly one variable"),
                );
                continue;
            }
            let (variable, value) = pairs[0];
            let variable = Located {
                value: variable.get_ref().to_string(),
                span: variable.span(),
            };
            let value = match value.get_ref() {
                DeValue::String(s) => s.to_string(),
                other => {
                    let message = format!(
                        "the value of `{}` in {what} must be a string, found {}",
                        variable.value,
                        kind_name(other)
                    );
                    cx.error(value.span(), message);
                    continue;
                }
            };
            if cx.variable_name(&variable) {
                sets.insert(key_char, (variable.value, value));
            }
        }
    }
    NodeKind::Menu {
        prompt,
        options,
        timeout,
        retries,
        sets,
    }
}

fn collect(cx: &mut Context<'_>, f: &mut Fields<'_, '_, '_>) -> NodeKind {
    let prompt = cx.prompts(f, "prompt", Need::NonEmpty);
    let variable = f.required_string(&mut cx.diagnostics, "variable");
    if let Some(v) = &variable {
        cx.variable_name(v);
    }
    let min = f.integer_in(&mut cx.diagnostics, "min_digits", 1, 64);
    let max = f.integer_in(&mut cx.diagnostics, "max_digits", 1, 64);
    if max.is_none() && f.get("max_digits").is_none() {
        cx.diagnostics.push(f.missing("max_digits"));
    }
    if let (Some(min), Some(max)) = (&min, &max)
        && min.value > max.value
    {
        cx.error(
            min.span.clone(),
            format!(
                "`min_digits` ({}) is greater than `max_digits` ({}) in {}",
                min.value, max.value, f.what
            ),
        );
    }
    let terminator = cx.optional_key(f, "terminator");
    let pattern = f
        .string(&mut cx.diagnostics, "pattern")
        .and_then(|p| cx.pattern(&p));
    NodeKind::Collect {
        prompt,
        variable: variable.map(|v| v.value).unwrap_or_default(),
        min_digits: min.map_or(1, |m| m.value as u32),
        max_digits: max.map_or(1, |m| m.value as u32),
        terminator,
        first_digit_timeout: cx.seconds(f, "first_digit_timeout_secs", 1, 8),
        inter_digit_timeout: cx.seconds(f, "inter_digit_timeout_secs", 1, 4),
        pattern,
        confirm: cx.confirm(f, "confirm", false),
        sensitive: f.bool_or(&mut cx.diagnostics, "sensitive", false),
        retries: cx.retries(f),
        next: cx.target(f, "next"),
    }
}

fn queue(cx: &mut Context<'_>, f: &mut Fields<'_, '_, '_>) -> NodeKind {
    NodeKind::Queue {
        queue: cx.queue(f),
        skills: cx.assignments(f, "skills", false),
        priority: f
            .integer_in(&mut cx.diagnostics, "priority", -1000, 1000)
            .map_or(0, |p| p.value as i32),
        max_wait: cx.seconds(f, "max_wait_secs", 1, 900),
        callback_key: cx.optional_key(f, "callback_key"),
        after_call: cx.optional_target(f, "after_call"),
        on_timeout: cx.target(f, "on_timeout"),
        on_closed: cx.target(f, "on_closed"),
        on_callback: cx.optional_target(f, "on_callback"),
    }
}

fn survey(cx: &mut Context<'_>, f: &mut Fields<'_, '_, '_>) -> NodeKind {
    let mut questions = Vec::new();
    if let Some(value) = f.required(&mut cx.diagnostics, "questions") {
        match value.get_ref() {
            DeValue::Array(items) if items.is_empty() => {
                cx.error(
                    value.span(),
                    format!("`questions` in {} must not be empty", f.what),
                );
            }
            DeValue::Array(items) => {
                let mut seen = BTreeSet::new();
                for item in items.iter() {
                    let Some(table) = f.table_value(&mut cx.diagnostics, "questions", item) else {
                        continue;
                    };
                    let what = format!("a question of {}", f.what);
                    let mut q = Fields::new(f.source, table, what, item.span());
                    let id = q.required_string(&mut cx.diagnostics, "id");
                    let prompt = cx.prompts(&mut q, "prompt", Need::NonEmpty);
                    q.finish(&mut cx.diagnostics);
                    if let Some(id) = id {
                        if !seen.insert(id.value.clone()) {
                            cx.error(
                                id.span,
                                format!("question `{}` is asked twice in {}", id.value, f.what),
                            );
                        } else {
                            questions.push(SurveyQuestion {
                                id: id.value,
                                prompt,
                            });
                        }
                    }
                }
            }
            _ => {
                cx.diagnostics
                    .push(f.wrong("questions", "a list of { id, prompt } tables", value))
            }
        }
    }
    NodeKind::Survey {
        questions,
        timeout: cx.seconds(f, "timeout_secs", 1, 6),
        thanks: cx.prompts(f, "thanks", Need::Optional),
        next: cx.optional_target(f, "next"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_count_insertions_deletions_changes_and_swaps() {
        assert_eq!(edit_distance("main", "main"), 0);
        assert_eq!(edit_distance("mian", "main"), 1);
        assert_eq!(edit_distance("man", "main"), 1);
        assert_eq!(edit_distance("maim", "main"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("goodby", "goodbye"), 1);
    }

    #[test]
    fn an_unknown_node_names_a_close_one() {
        let ids = BTreeMap::from([("main".to_owned(), NodeId(0)), ("goodbye".to_owned(), NodeId(1))]);
        assert_eq!(unknown_node("mian", &ids), "unknown node `mian` (did you mean `main`?)");
        assert_eq!(unknown_node("operator", &ids), "unknown node `operator`");
        // Short names are not "close" to everything.
        let ids = BTreeMap::from([("a".to_owned(), NodeId(0))]);
        assert_eq!(unknown_node("b", &ids), "unknown node `b`");
    }
}
