//! The queue names a dialplan may hand calls to, read from the ACD's queues
//! file (`[queues.<name>]` tables).
//!
//! Owns: only the names and where each is defined. The ACD keys inside each
//! table are the ACD's to read and check; they are ignored here.

use toml::de::DeValue;

use super::fields::{Located, Source, entries_in_order};
use super::syntax::parse_document;
use crate::diagnostics::Diagnostic;

/// The queue names in the order they are written, or the file's errors.
pub(super) fn queue_names(source: &Source<'_>) -> Result<Vec<Located<String>>, Vec<Diagnostic>> {
    let (document, mut diagnostics) = parse_document(source, |path, key| {
        (path.len() == 1 && path[0] == "queues").then(|| format!("queue `{key}` is defined twice"))
    });
    let Some(document) = document else {
        return Err(diagnostics);
    };
    let mut names = Vec::new();
    match document.get_ref().get("queues") {
        None => diagnostics.push(source.error(
            0..0,
            "missing table `[queues]`: define each queue as `[queues.<name>]`",
        )),
        Some(queues) => match queues.get_ref() {
            DeValue::Table(table) => {
                for (name, value) in entries_in_order(table) {
                    if !matches!(value.get_ref(), DeValue::Table(_)) {
                        diagnostics.push(source.error(
                            value.span(),
                            format!("queue `{}` must be a table", name.get_ref()),
                        ));
                        continue;
                    }
                    names.push(Located {
                        value: name.get_ref().to_string(),
                        span: name.span(),
                    });
                }
            }
            _ => diagnostics.push(source.error(
                queues.span(),
                "`queues` must be a table of `[queues.<name>]` tables",
            )),
        },
    }
    if diagnostics.is_empty() {
        Ok(names)
    } else {
        Err(diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Result<Vec<String>, Vec<String>> {
        let source = Source {
            file: "queues.toml",
            text,
        };
        queue_names(&source)
            .map(|v| v.into_iter().map(|n| n.value).collect())
            .map_err(|d| d.into_iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn queue_names_come_in_file_order_and_acd_keys_are_ignored() {
        let text = "[queues.health]\nskills = [\"topic\"]\n\n[queues.general]\nmax_agents = 3\n\n[defaults]\nx = 1\n";
        assert_eq!(
            names(text),
            Ok(vec!["health".to_owned(), "general".to_owned()])
        );
    }

    #[test]
    fn a_queue_defined_twice_is_reported_at_the_second() {
        let text = "[queues.general]\n[queues.general]\n";
        assert_eq!(
            names(text),
            Err(vec![
                "queues.toml:2:9: error: queue `general` is defined twice".to_owned()
            ])
        );
    }

    #[test]
    fn a_file_without_queues_is_an_error() {
        assert_eq!(
            names("[other]\n"),
            Err(vec!["queues.toml:1:1: error: missing table `[queues]`: define each queue as `[queues.<name>]`".to_owned()])
        );
    }
}
