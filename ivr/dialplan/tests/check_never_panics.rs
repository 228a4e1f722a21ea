//! No text makes the compiler panic: arbitrary bytes, and the valid
//! fixture (with its calendar and queues) cut, spliced and garbled.

use std::collections::BTreeMap;

use ivr_dialplan::compile::{SourceText, Sources, compile_sources};
use ivr_dialplan::prompts_catalog::PromptCatalog;
use proptest::prelude::*;

const DIALPLAN: &str = include_str!("fixtures/valid/dialplan.toml");
const CALENDAR: &str = include_str!("fixtures/valid/calendar.toml");
const QUEUES: &str = include_str!("fixtures/valid/queues.toml");

fn sources(dialplan: String, calendar: String, queues: String) -> Sources {
    let file = |name: &str, text: String| SourceText {
        name: name.to_owned(),
        text,
    };
    Sources {
        dialplan: file("dialplan.toml", dialplan),
        files: BTreeMap::from([
            ("calendar.toml".to_owned(), file("calendar.toml", calendar)),
            ("queues.toml".to_owned(), file("queues.toml", queues)),
        ]),
    }
}

fn catalog() -> PromptCatalog {
    PromptCatalog::from_list([("ca", "welcome"), ("es", "welcome")])
}

/// `text` with `edits` applied: each removes `len` characters at a
/// position and inserts a fragment there.
fn garble(text: &str, edits: &[(usize, usize, String)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, len, insert) in edits {
        let at = at % (chars.len() + 1);
        let end = (at + len).min(chars.len());
        chars.splice(at..end, insert.chars());
    }
    chars.into_iter().collect()
}

/// Fragments that are meaningful to the compiler more often than random text.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~\n]{0,12}",
        Just("${".to_owned()),
        Just("\"".to_owned()),
        Just("[nodes.x]\ntype = \"goto\"\ntarget = \"x\"\n".to_owned()),
        Just("type = \"sub\"\n".to_owned()),
        Just("{ say = \"number\", value = \"9999999999999999999\" }".to_owned()),
        Just("min_digits = -9223372036854775808\n".to_owned()),
        Just("= [[[".to_owned()),
        Just("é€\u{0}".to_owned()),
    ]
}

fn edits() -> impl Strategy<Value = Vec<(usize, usize, String)>> {
    prop::collection::vec((0usize..4000, 0usize..40, fragment()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = compile_sources(&sources(text, CALENDAR.to_owned(), QUEUES.to_owned()), &catalog());
    }

    #[test]
    fn a_garbled_dialplan_never_panics(edits in edits()) {
        let dialplan = garble(DIALPLAN, &edits);
        let _ = compile_sources(&sources(dialplan, CALENDAR.to_owned(), QUEUES.to_owned()), &catalog());
    }

    #[test]
    fn garbled_calendar_and_queues_never_panic(calendar_edits in edits(), queue_edits in edits()) {
        let calendar = garble(CALENDAR, &calendar_edits);
        let queues = garble(QUEUES, &queue_edits);
        let _ = compile_sources(&sources(DIALPLAN.to_owned(), calendar, queues), &catalog());
    }
}

/// The garbling above is not a no-op: most garbled files are refused.
#[test]
fn the_valid_fixture_compiles_until_garbled() {
    let catalog = PromptCatalog::default();
    // Without prompts the valid fixture fails only on prompts: its structure is sound.
    let errors = compile_sources(
        &sources(DIALPLAN.to_owned(), CALENDAR.to_owned(), QUEUES.to_owned()),
        &catalog,
    )
    .expect_err("no prompts in an empty catalogue");
    assert!(
        errors
            .iter()
            .all(|d| d.message.starts_with("no prompts in language")),
        "{errors:?}"
    );
    let broken = garble(DIALPLAN, &[(0, 10, "x = ".to_owned())]);
    assert!(
        compile_sources(
            &sources(broken, CALENDAR.to_owned(), QUEUES.to_owned()),
            &catalog
        )
        .is_err()
    );
}
