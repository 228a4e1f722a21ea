//! Parsing TOML text into a tree whose every key and value carries its
//! byte span, and turning the parser's errors into diagnostics.
//!
//! Owns: the wording of syntax errors and of keys written twice (TOML's
//! "duplicate key" says neither which key nor where it belongs; ours names
//! both: "key `1` is used twice in menu `main`").

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::fields::Source;
use crate::diagnostics::Diagnostic;

/// How to word a key written twice in the table at `path` (its keys from the
/// root); `None` for the generic wording.
pub(super) type DuplicateWording = fn(path: &[String], key: &str) -> Option<String>;

/// The document and the diagnostics of its syntax. The document is `None`
/// when the text is not valid TOML; keys written twice are reported but
/// keep the document (the first value is kept), so that later checks run.
pub(super) fn parse_document<'i>(
    source: &Source<'i>,
    wording: DuplicateWording,
) -> (Option<Spanned<DeTable<'i>>>, Vec<Diagnostic>) {
    let (document, mut errors) = DeTable::parse_recoverable(source.text);
    errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
    let mut diagnostics = Vec::new();
    let mut broken = false;
    // Tables whose header is written twice: the keys of the second copy
    // are merged into the first, and each would be reported again.
    let mut reopened: Vec<Vec<String>> = Vec::new();
    for error in &errors {
        let span = error.span().unwrap_or(0..0);
        if error.message() == "duplicate key" {
            let key = unquote(source.text.get(span.clone()).unwrap_or(""));
            let path = table_holding(document.get_ref(), span.start, &key);
            if reopened.iter().any(|table| path.starts_with(table)) {
                continue;
            }
            let mut full = path.clone();
            full.push(key.clone());
            if is_table(document.get_ref(), &full) {
                reopened.push(full);
            }
            let message = wording(&path, &key).unwrap_or_else(|| generic_duplicate(&path, &key));
            diagnostics.push(source.error(span, message));
        } else {
            broken = true;
            diagnostics.push(source.error(span, format!("invalid TOML: {}", error.message())));
        }
    }
    diagnostics.sort_by_key(|d| d.position);
    // After a syntax error the parser's recovery often reports the rest of
    // the line again in other words: keep the first error of each line.
    if broken {
        diagnostics.dedup_by_key(|d| d.position.line);
    }
    (if broken { None } else { Some(document) }, diagnostics)
}

fn generic_duplicate(path: &[String], key: &str) -> String {
    if path.is_empty() {
        format!("key `{key}` is given twice at the top level")
    } else {
        format!("key `{key}` is given twice in `[{}]`", path.join("."))
    }
}

/// Whether the value at `path` is a table.
fn is_table(root: &DeTable<'_>, path: &[String]) -> bool {
    let mut table = root;
    for (i, key) in path.iter().enumerate() {
        match table.get(key.as_str()).map(|v| v.get_ref()) {
            Some(DeValue::Table(_)) if i + 1 == path.len() => return true,
            Some(DeValue::Table(inner)) => table = inner,
            _ => return false,
        }
    }
    false
}

/// A key as written, without its quotes.
fn unquote(written: &str) -> String {
    let trimmed = written.trim();
    for quote in ["\"", "'"] {
        if let Some(inner) = trimmed
            .strip_prefix(quote)
            .and_then(|s| s.strip_suffix(quote))
        {
            return inner.to_owned();
        }
    }
    trimmed.to_owned()
}

/// The path of the table a key written twice at `offset` belongs to: of the
/// tables that hold `key`, the one that starts last before `offset`.
fn table_holding(root: &DeTable<'_>, offset: usize, key: &str) -> Vec<String> {
    let mut best: Option<(usize, Vec<String>)> = if root.contains_key(key) {
        Some((0, vec![]))
    } else {
        None
    };
    let mut stack: Vec<(Vec<String>, &DeTable<'_>)> = vec![(vec![], root)];
    while let Some((path, table)) = stack.pop() {
        for (name, value) in table.iter() {
            if let DeValue::Table(inner) = value.get_ref() {
                let mut inner_path = path.clone();
                inner_path.push(name.get_ref().to_string());
                let start = value.span().start.min(name.span().start);
                if inner.contains_key(key)
                    && start <= offset
                    && best.as_ref().is_none_or(|(s, _)| start >= *s)
                {
                    best = Some((start, inner_path.clone()));
                }
                stack.push((inner_path, inner));
            }
        }
    }
    best.map(|(_, path)| path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostics(text: &str) -> (bool, Vec<String>) {
        let source = Source {
            file: "f.toml",
            text,
        };
        let (document, d) = parse_document(&source, |path, key| {
            (path.len() == 3 && path[2] == "options")
                .then(|| format!("key `{key}` is used twice in menu `{}`", path[1]))
        });
        (
            document.is_some(),
            d.into_iter().map(|d| d.to_string()).collect(),
        )
    }

    #[test]
    fn a_key_twice_in_an_inline_table_is_named_with_its_table() {
        let text = "[nodes.main]\noptions = { \"1\" = \"a\", \"1\" = \"b\" }\n";
        assert_eq!(
            diagnostics(text),
            (
                true,
                vec!["f.toml:2:24: error: key `1` is used twice in menu `main`".to_owned()]
            )
        );
    }

    #[test]
    fn a_key_twice_in_a_standard_table_is_named_with_its_table() {
        let text = "[nodes.main]\ntype = \"menu\"\n[nodes.main.options]\n1 = \"a\"\n2 = \"b\"\n1 = \"c\"\n[nodes.b]\n1 = 2\n";
        assert_eq!(
            diagnostics(text),
            (
                true,
                vec!["f.toml:6:1: error: key `1` is used twice in menu `main`".to_owned()]
            )
        );
    }

    #[test]
    fn other_keys_twice_get_the_generic_wording() {
        let text = "a = 1\na = 2\n[t]\nx = 1\nx = 2\n";
        assert_eq!(
            diagnostics(text),
            (
                true,
                vec![
                    "f.toml:2:1: error: key `a` is given twice at the top level".to_owned(),
                    "f.toml:5:1: error: key `x` is given twice in `[t]`".to_owned()
                ]
            )
        );
    }

    #[test]
    fn syntax_errors_drop_the_document_and_keep_their_position() {
        let (ok, d) = diagnostics("a = \"x\"\nb = \n");
        assert!(!ok);
        assert_eq!(
            d,
            vec![
                "f.toml:2:5: error: invalid TOML: string values must be quoted, expected literal string"
            ]
        );
    }
}
