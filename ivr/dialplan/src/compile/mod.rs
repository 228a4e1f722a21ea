//! The dialplan compiler: a TOML dialplan (plus the calendar and queues
//! files it names) becomes a checked [`Program`], or the complete list of
//! what is wrong, each at its file, line and column.
//!
//! Owns: the dialplan syntax (see `docs/dialplans.md`, the reference) and
//! every check `ivr check` runs. Must never panic on any text, never read
//! the clock, and never read files other than the ones a dialplan names.
//!
//! Layout: `syntax` parses TOML with positions, `fields` reads typed keys,
//! `nodes` compiles each node type, `graph` checks reachability and loops,
//! `queues` reads queue names; this module ties them together and checks
//! prompts against the catalogue.

mod fields;
mod graph;
mod nodes;
mod queues;
mod syntax;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use self::fields::{Fields, Located, Source, entries_in_order};
use self::nodes::{CalendarState, Context, QueuesState, UNRESOLVED};
use crate::calendar::Calendar;
use crate::diagnostics::{Diagnostic, Position};
use crate::program::{NodeId, NodeKind, Program, SayKind};
use crate::prompts_catalog::PromptCatalog;
use crate::say;

/// A compiled dialplan and what it was built from.
#[derive(Debug, Clone)]
pub struct CompileOutput {
    pub program: Program,
    /// Findings that do not refuse the dialplan.
    pub warnings: Vec<Diagnostic>,
    /// The dialplan, calendar and queues files read (to watch for reload).
    pub sources: Vec<PathBuf>,
}

/// One source text and the name diagnostics give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceText {
    pub name: String,
    pub text: String,
}

/// A dialplan and the files it names, in memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources {
    pub dialplan: SourceText,
    /// The files the dialplan names (`calendar`, `queues`), keyed by the
    /// path exactly as written in the dialplan.
    pub files: BTreeMap<String, SourceText>,
}

impl Default for SourceText {
    fn default() -> Self {
        SourceText {
            name: "dialplan.toml".to_owned(),
            text: String::new(),
        }
    }
}

/// Reads the dialplan at `path` and the calendar and queues files it names
/// (relative to its directory), and compiles them. On failure every
/// diagnostic is returned (errors and warnings), sorted by file and position.
pub fn compile_file(
    path: &Path,
    prompts: &PromptCatalog,
) -> Result<CompileOutput, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic::error(
            &name,
            Position { line: 1, column: 1 },
            format!("cannot read `{name}`: {}", io_reason(&e)),
        )]
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut load = |written: &str| {
        let file = dir.join(written);
        let text = std::fs::read_to_string(&file).map_err(|e| io_reason(&e))?;
        Ok((
            SourceText {
                name: file.display().to_string(),
                text,
            },
            file,
        ))
    };
    compile(
        &SourceText { name, text },
        path.to_path_buf(),
        &mut load,
        prompts,
    )
}

/// The same as [`compile_file`] from texts in memory.
pub fn compile_sources(
    sources: &Sources,
    prompts: &PromptCatalog,
) -> Result<CompileOutput, Vec<Diagnostic>> {
    let mut load = |written: &str| match sources.files.get(written) {
        Some(file) => Ok((file.clone(), PathBuf::from(&file.name))),
        None => Err("file not found".to_owned()),
    };
    compile(
        &sources.dialplan,
        PathBuf::from(&sources.dialplan.name),
        &mut load,
        prompts,
    )
}

/// The dialplans in a directory (not its sub-directories): the `*.toml`
/// files with a `[dialplan]` table line, in name order, broken ones
/// included, so that `ivr check dialplans/` skips the calendar, queues and
/// agents files beside them but never a dialplan.
pub fn find_dialplans(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") || !path.is_file() {
            continue;
        }
        // A file that cannot be read as text is not a dialplan to skip
        // silently: keep it, so that compiling it reports why.
        let is_dialplan = std::fs::read_to_string(&path).map_or(true, |text| {
            text.lines().any(|line| line.split('#').next().unwrap_or("").trim() == "[dialplan]")
        });
        if is_dialplan {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
        _ => error.to_string(),
    }
}

/// Reads a file the dialplan names: its text and path, or why not.
type Loader<'a> = dyn FnMut(&str) -> Result<(SourceText, PathBuf), String> + 'a;

/// Wording of keys written twice in a dialplan.
fn dialplan_duplicate(path: &[String], key: &str) -> Option<String> {
    match path {
        [nodes] if nodes == "nodes" => Some(format!("node `{key}` is defined twice")),
        [nodes, name] if nodes == "nodes" => {
            Some(format!("key `{key}` is given twice in node `{name}`"))
        }
        [nodes, name, options] if nodes == "nodes" && options == "options" => {
            Some(format!("key `{key}` is used twice in menu `{name}`"))
        }
        [nodes, name, set] if nodes == "nodes" && set == "set" => Some(format!(
            "key `{key}` is used twice in `set` of menu `{name}`"
        )),
        _ => None,
    }
}

/// The `[dialplan]` table, read.
struct Header {
    name: String,
    version: Option<String>,
    languages: Vec<Located<String>>,
    start: Option<Located<String>>,
    calendar: Option<Located<String>>,
    queues: Option<Located<String>>,
    step_budget: u32,
    max_ivr_secs: u32,
}

fn compile(
    dialplan: &SourceText,
    dialplan_path: PathBuf,
    load: &mut Loader<'_>,
    prompts: &PromptCatalog,
) -> Result<CompileOutput, Vec<Diagnostic>> {
    let source = Source {
        file: &dialplan.name,
        text: &dialplan.text,
    };
    let (document, mut d) = syntax::parse_document(&source, dialplan_duplicate);
    let Some(document) = document else {
        return Err(d);
    };
    let root = document.get_ref();

    let mut read = FilesRead {
        names: vec![dialplan.name.clone()],
        paths: vec![dialplan_path],
        texts: vec![dialplan.text.clone()],
    };

    for (key, _) in entries_in_order(root) {
        if key.get_ref() != "dialplan" && key.get_ref() != "nodes" {
            d.push(source.error(
                key.span(),
                format!("unknown key `{}` at the top level: expected `[dialplan]` and `[nodes.<name>]` tables", key.get_ref()),
            ));
        }
    }
    let header = top_table(&source, root, "dialplan", &mut d)
        .map(|(table, span)| header(&source, table, span, &mut d));
    let nodes_table = top_table(&source, root, "nodes", &mut d);

    // The files the header names.
    let named = |pick: fn(&Header) -> &Option<Located<String>>| {
        header.as_ref().and_then(|h| pick(h).as_ref())
    };
    let mut calendar = None;
    if let Some(file) =
        named(|h| &h.calendar).and_then(|w| read.named(load, &source, w, "calendar", &mut d))
    {
        match Calendar::parse(&file.name, &file.text) {
            Ok(c) => calendar = Some((file.name, c)),
            Err(errors) => d.extend(errors),
        }
    }
    let calendar_broken = named(|h| &h.calendar).is_some() && calendar.is_none();
    let mut queue_names: Option<(String, Vec<String>)> = None;
    if let Some(file) =
        named(|h| &h.queues).and_then(|w| read.named(load, &source, w, "queues", &mut d))
    {
        match queues::queue_names(&Source {
            file: &file.name,
            text: &file.text,
        }) {
            Ok(names) => {
                queue_names = Some((file.name, names.into_iter().map(|n| n.value).collect()))
            }
            Err(errors) => d.extend(errors),
        }
    }
    let queues_broken = named(|h| &h.queues).is_some() && queue_names.is_none();

    // Node names first, so that any node may name any other.
    let mut ids = BTreeMap::new();
    let mut node_names = Vec::new();
    let mut node_tables = Vec::new();
    if let Some((table, _)) = nodes_table {
        for (name, value) in entries_in_order(table) {
            let name_text = name.get_ref().to_string();
            if !is_node_name(&name_text) {
                d.push(source.error(
                    name.span(),
                    format!("invalid node name `{name_text}`: names are lowercase letters, digits, `-` and `_`"),
                ));
            }
            let DeValue::Table(node) = value.get_ref() else {
                d.push(source.error(value.span(), format!("node `{name_text}` must be a table")));
                continue;
            };
            ids.insert(name_text.clone(), NodeId(node_names.len() as u32));
            node_names.push(name_text);
            node_tables.push((name.span(), node));
        }
    }

    let no_languages = Vec::new();
    let mut cx = Context {
        source: &source,
        ids: &ids,
        languages: header.as_ref().map_or(&no_languages, |h| &h.languages),
        calendar: match (&calendar, calendar_broken) {
            (Some((file, calendar)), _) => CalendarState::Loaded { file, calendar },
            (None, true) => CalendarState::Broken,
            (None, false) => CalendarState::NotNamed,
        },
        queues: match (&queue_names, queues_broken) {
            (Some((file, names)), _) => QueuesState::Loaded { file, names },
            (None, true) => QueuesState::Broken,
            (None, false) => QueuesState::NotNamed,
        },
        diagnostics: Vec::new(),
        prompt_uses: Vec::new(),
        say_uses: Vec::new(),
        warnings: Vec::new(),
    };
    let kinds: Vec<Option<NodeKind>> = node_names
        .iter()
        .zip(&node_tables)
        .map(|(name, (span, table))| nodes::compile_node(&mut cx, name, span.clone(), table))
        .collect();
    let start = header
        .as_ref()
        .and_then(|h| h.start.as_ref())
        .map(|s| match ids.get(&s.value) {
            Some(id) => *id,
            None => {
                cx.diagnostics
                    .push(source.error(s.span.clone(), nodes::unknown_node(&s.value, &ids)));
                UNRESOLVED
            }
        });
    let Context {
        diagnostics,
        prompt_uses,
        say_uses,
        mut warnings,
        ..
    } = cx;
    d.extend(diagnostics);

    // Reachability; a node of unknown type (reported) is taken to go to
    // every node it names, so that its targets are not reported too.
    let edges: Vec<Vec<NodeId>> = kinds
        .iter()
        .zip(&node_tables)
        .map(|(kind, (_, table))| match kind {
            Some(kind) => graph::successors(kind),
            None => table
                .values()
                .filter_map(|v| match v.get_ref() {
                    DeValue::String(s) => ids.get(s.as_ref()).copied(),
                    _ => None,
                })
                .collect(),
        })
        .collect();
    if let Some(start) = start.filter(|s| *s != UNRESOLVED) {
        let start_name = &node_names[start.0 as usize];
        for id in graph::unreachable(&edges, start) {
            let (span, _) = &node_tables[id.0 as usize];
            let message = format!(
                "node `{}` is unreachable from the start node `{start_name}`",
                node_names[id.0 as usize]
            );
            d.push(source.error(span.clone(), message));
        }
    }
    // Loops need every node's type: whether it waits.
    let all_kinds: Option<Vec<NodeKind>> = kinds.into_iter().collect();
    for cycle in all_kinds
        .as_deref()
        .map(graph::instant_loops)
        .unwrap_or_default()
    {
        let path: Vec<String> = cycle
            .iter()
            .map(|id| format!("`{}`", node_names[id.0 as usize]))
            .collect();
        let (span, _) = &node_tables[cycle[0].0 as usize];
        let message = format!(
            "nodes {} loop without ever waiting for input",
            path.join(" -> ")
        );
        d.push(source.error(span.clone(), message));
    }
    if let Some(h) = &header {
        check_prompts(
            &source,
            &h.languages,
            &prompt_uses,
            &say_uses,
            prompts,
            &mut d,
        );
    }

    let rank = |file: &str| {
        read.names
            .iter()
            .position(|f| f == file)
            .unwrap_or(usize::MAX)
    };
    let sort = |list: &mut Vec<Diagnostic>| {
        list.sort_by_key(|x| (rank(&x.file), x.position, x.message.clone()))
    };
    if d.iter().any(Diagnostic::is_error) {
        d.append(&mut warnings);
        sort(&mut d);
        return Err(d);
    }
    warnings.extend(d);
    sort(&mut warnings);

    let (Some(header), Some(start), Some(nodes)) = (header, start, all_kinds) else {
        unreachable_error(&mut warnings);
        return Err(warnings);
    };
    let positions = node_tables
        .iter()
        .map(|(span, _)| source.position(span.clone()));
    let program = Program {
        name: header.name,
        version: header.version.unwrap_or_else(|| stable_hash(&read.texts)),
        languages: header.languages.into_iter().map(|l| l.value).collect(),
        start,
        nodes: positions
            .zip(nodes)
            .map(|(position, kind)| crate::program::Node { position, kind })
            .collect(),
        node_names,
        calendar: calendar.map(|(_, c)| c).unwrap_or_default(),
        queues: queue_names.map(|(_, names)| names).unwrap_or_default(),
        step_budget: header.step_budget,
        max_ivr_time: Duration::from_secs(u64::from(header.max_ivr_secs)),
    };
    Ok(CompileOutput {
        program,
        warnings,
        sources: read.paths,
    })
}

/// The files read so far: names for ordering diagnostics, paths to watch,
/// texts for the version hash.
struct FilesRead {
    names: Vec<String>,
    paths: Vec<PathBuf>,
    texts: Vec<String>,
}

impl FilesRead {
    /// Reads a file the dialplan names at `written`; a failure is reported
    /// at that value.
    fn named(
        &mut self,
        load: &mut Loader<'_>,
        source: &Source<'_>,
        written: &Located<String>,
        what: &str,
        d: &mut Vec<Diagnostic>,
    ) -> Option<SourceText> {
        match load(&written.value) {
            Err(reason) => {
                d.push(source.error(
                    written.span.clone(),
                    format!("cannot read {what} file `{}`: {reason}", written.value),
                ));
                None
            }
            Ok((file, path)) => {
                self.names.push(file.name.clone());
                self.paths.push(path);
                self.texts.push(file.text.clone());
                Some(file)
            }
        }
    }
}

/// Reached only if a missing part was not reported: a compiler bug, told as
/// an error rather than a panic.
fn unreachable_error(d: &mut Vec<Diagnostic>) {
    d.push(Diagnostic::error(
        "",
        Position::default(),
        "internal error: incomplete dialplan was not reported",
    ));
}

/// A required top-level table: `[dialplan]` or `[nodes...]`.
fn top_table<'t, 'i>(
    source: &Source<'_>,
    root: &'t DeTable<'i>,
    key: &str,
    d: &mut Vec<Diagnostic>,
) -> Option<(&'t DeTable<'i>, std::ops::Range<usize>)> {
    let Some((name, value)) = root.get_key_value(key) else {
        d.push(source.error(0..0, format!("missing table `[{key}]`")));
        return None;
    };
    match value.get_ref() {
        DeValue::Table(t) => Some((t, name.span())),
        other => {
            d.push(source.error(
                value.span(),
                format!(
                    "`{key}` must be a table, found {}",
                    fields::kind_name(other)
                ),
            ));
            None
        }
    }
}

fn header(
    source: &Source<'_>,
    table: &DeTable<'_>,
    span: std::ops::Range<usize>,
    d: &mut Vec<Diagnostic>,
) -> Header {
    let mut f = Fields::new(source, table, "`[dialplan]`".to_owned(), span);
    let name = f
        .required_string(d, "name")
        .map(|n| n.value)
        .unwrap_or_default();
    let version = f.string(d, "version");
    if let Some(v) = &version
        && v.value.trim().is_empty()
    {
        d.push(source.error(
            v.span.clone(),
            "`version` in `[dialplan]` must not be empty",
        ));
    }
    let mut languages: Vec<Located<String>> = Vec::new();
    if let Some(value) = f.required(d, "languages") {
        match value.get_ref() {
            DeValue::Array(items) if items.is_empty() => {
                d.push(source.error(
                    value.span(),
                    "`languages` in `[dialplan]` must not be empty",
                ));
            }
            DeValue::Array(items) => {
                for item in items.iter() {
                    let Some(code) = f.string_value(d, "languages", item) else {
                        continue;
                    };
                    if !(2..=3).contains(&code.value.len())
                        || !code.value.chars().all(|c| c.is_ascii_lowercase())
                    {
                        d.push(source.error(
                            code.span.clone(),
                            format!("invalid language code `{}`: codes are two or three lowercase letters", code.value),
                        ));
                    } else if languages.iter().any(|l| l.value == code.value) {
                        d.push(source.error(
                            code.span.clone(),
                            format!("language `{}` is listed twice", code.value),
                        ));
                    } else {
                        languages.push(code);
                    }
                }
            }
            _ => d.push(f.wrong("languages", "a list of language codes", value)),
        }
    }
    let header = Header {
        name,
        version: version.map(|v| v.value),
        languages,
        start: f.required_string(d, "start"),
        calendar: f.string(d, "calendar"),
        queues: f.string(d, "queues"),
        step_budget: f.u32_or(d, "step_budget", 1, 1000),
        max_ivr_secs: f.u32_or(d, "max_ivr_secs", 1, 900),
    };
    f.finish(d);
    header
}

fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

/// "numbers" / "a number", as messages name a spoken kind.
fn say_kind_words(kind: SayKind) -> (&'static str, &'static str) {
    match kind {
        SayKind::Number => ("numbers", "a number"),
        SayKind::Digits => ("digits", "digits"),
        SayKind::Duration => ("durations", "a duration in seconds"),
        SayKind::Time => ("times", "a time (HH:MM)"),
    }
}

/// Every prompt used exists in every language; every spoken kind used has
/// all its pieces in every language; constant spoken values can be said.
/// Each missing prompt is reported once per language, at its first use.
fn check_prompts(
    source: &Source<'_>,
    languages: &[Located<String>],
    prompt_uses: &[Located<String>],
    say_uses: &[nodes::SayUse],
    catalog: &PromptCatalog,
    d: &mut Vec<Diagnostic>,
) {
    // A language with no prompts at all is one problem, not one per prompt.
    let (present, absent): (Vec<&Located<String>>, Vec<&Located<String>>) =
        languages.iter().partition(|l| catalog.languages().any(|known| known == l.value));
    if !prompt_uses.is_empty() || !say_uses.is_empty() {
        for language in absent {
            let message = format!("no prompts in language `{}`: the prompts folder has no `{}` folder", language.value, language.value);
            d.push(source.error(language.span.clone(), message));
        }
    }
    let languages = &present;
    let mut uses: Vec<&Located<String>> = prompt_uses.iter().collect();
    uses.sort_by_key(|u| u.span.start);
    let mut seen = BTreeSet::new();
    for used in uses {
        if !seen.insert(used.value.as_str()) {
            continue;
        }
        for language in languages {
            if !catalog.contains(&language.value, &used.value) {
                let message = format!(
                    "prompt `{}` is missing in language `{}`",
                    used.value, language.value
                );
                d.push(source.error(used.span.clone(), message));
            }
        }
    }
    let mut says: Vec<&nodes::SayUse> = say_uses.iter().collect();
    says.sort_by_key(|u| u.span.start);
    let mut kinds_seen = Vec::new();
    let mut pieces_seen = BTreeSet::new();
    for used in says {
        let (plural, singular) = say_kind_words(used.kind);
        if !kinds_seen.contains(&used.kind) {
            kinds_seen.push(used.kind);
            for language in languages {
                match say::pieces(&language.value, used.kind) {
                    Err(e) => d.push(source.error(
                        used.span.clone(),
                        format!("cannot say {plural} in language `{}`: {e}", language.value),
                    )),
                    Ok(pieces) => {
                        for piece in pieces {
                            if catalog.contains(&language.value, &piece)
                                || seen.contains(piece.as_str())
                                || !pieces_seen.insert((language.value.clone(), piece.clone()))
                            {
                                continue;
                            }
                            let message = format!(
                                "prompt `{piece}` (a piece to say {plural}) is missing in language `{}`",
                                language.value
                            );
                            d.push(source.error(used.span.clone(), message));
                        }
                    }
                }
            }
        }
        if let Some(value) = &used.constant {
            let invalid = languages.iter().any(|language| {
                matches!(
                    say::say(&language.value, used.kind, value),
                    Err(say::SayError::InvalidValue { .. })
                )
            });
            if invalid {
                d.push(source.error(
                    used.value_span.clone(),
                    format!("`{value}` cannot be said as {singular}"),
                ));
            }
        }
    }
}

/// FNV-1a (64 bits) of the source texts, as 12 hex digits: the same texts
/// give the same version on every machine and every run.
fn stable_hash(texts: &[String]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for text in texts {
        for byte in text.as_bytes().iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")[..12].to_owned()
}

#[cfg(test)]
mod tests;
