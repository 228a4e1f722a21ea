//! What `ivr check` prints for broken dialplans, word for word, and what a
//! valid one compiles to. The fixtures are real files under
//! `tests/fixtures/` (dialplans, a calendar, queue lists, broken copies); the
//! calendar and spoken-value checks run the crate's real calendar and `say`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ivr_dialplan::compile::{CompileOutput, compile_file, find_dialplans};
use ivr_dialplan::program::{NodeKind, PromptItem, SayKind, Template, TemplatePart};
use ivr_dialplan::prompts_catalog::PromptCatalog;
use ivr_dialplan::say;

const LANGUAGES: [&str; 2] = ["ca", "es"];

/// Every recorded prompt the fixtures use.
const PROMPTS: &[&str] = &[
    "welcome",
    "choose-language",
    "main-menu",
    "no-input",
    "invalid",
    "enter-postcode",
    "you-entered",
    "confirm-or-change",
    "out-of-hours",
    "callback-offer",
    "leave-message",
    "survey-overall",
    "survey-resolved",
    "survey-thanks",
    "goodbye",
];

const KINDS: [SayKind; 4] = [
    SayKind::Number,
    SayKind::Digits,
    SayKind::Duration,
    SayKind::Time,
];

/// The fixtures' prompts and every spoken piece, in Catalan and Spanish,
/// plus `only-in-catalan`; minus whatever `leave_out` names.
fn catalog(leave_out: &[(&str, &str)]) -> PromptCatalog {
    let mut all = vec![("ca".to_owned(), "only-in-catalan".to_owned())];
    for language in LANGUAGES {
        all.extend(
            PROMPTS
                .iter()
                .map(|id| (language.to_owned(), (*id).to_owned())),
        );
        for kind in KINDS {
            let pieces = say::pieces(language, kind).expect("ca and es have spoken pieces");
            all.extend(pieces.into_iter().map(|id| (language.to_owned(), id)));
        }
    }
    all.retain(|(l, id)| !leave_out.iter().any(|(ol, oid)| ol == l && oid == id));
    PromptCatalog::from_list(all)
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/{name}")
}

fn compile_fixture(name: &str, prompts: &PromptCatalog) -> Result<CompileOutput, Vec<String>> {
    compile_file(Path::new(&fixture(name)), prompts)
        .map_err(|d| d.iter().map(ToString::to_string).collect())
}

fn messages(name: &str) -> Vec<String> {
    messages_with(name, &catalog(&[]))
}

fn messages_with(name: &str, prompts: &PromptCatalog) -> Vec<String> {
    match compile_fixture(name, prompts) {
        Ok(_) => panic!("{name} compiled, but it is broken"),
        Err(messages) => messages,
    }
}

fn prompt(id: &str) -> PromptItem {
    PromptItem::Prompt(id.to_owned())
}

fn variable(name: &str) -> Template {
    Template {
        parts: vec![TemplatePart::Variable(name.to_owned())],
    }
}

#[test]
fn a_valid_dialplan_compiles_every_node_type() {
    let out = compile_fixture("valid/dialplan.toml", &catalog(&[])).expect("valid");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let expected_sources: Vec<std::path::PathBuf> = [
        "valid/dialplan.toml",
        "valid/calendar.toml",
        "valid/queues.toml",
    ]
    .map(|f| fixture(f).into())
    .to_vec();
    assert_eq!(out.sources, expected_sources);

    let p = &out.program;
    assert_eq!((p.name.as_str(), p.version.as_str()), ("fixture", "1.0"));
    assert_eq!(p.languages, ["ca", "es"]);
    assert_eq!(p.queues, ["general", "callbacks"]);
    assert_eq!(
        (p.step_budget, p.max_ivr_time),
        (200, Duration::from_secs(600))
    );
    assert_eq!(p.node_name(p.start), "welcome");
    assert_eq!(
        p.node_names,
        [
            "welcome",
            "choose-language",
            "lang-ca",
            "lang-es",
            "main",
            "postcode",
            "say-postcode",
            "hours",
            "queue",
            "out-of-hours",
            "callback",
            "message",
            "survey",
            "emergency",
            "check",
            "count",
            "done",
            "back",
            "goodbye",
        ]
    );
    let id = |name: &str| p.node_id(name).expect("a node of the fixture");
    let kind = |name: &str| &p.node(id(name)).kind;

    assert_eq!(p.node(id("main")).position.line, 34);
    assert_eq!(
        kind("welcome"),
        &NodeKind::Play {
            prompts: vec![prompt("welcome")],
            barge_in: false,
            next: id("choose-language")
        }
    );
    assert_eq!(
        kind("lang-es"),
        &NodeKind::Language {
            language: "es".to_owned(),
            next: id("main")
        }
    );
    let NodeKind::Menu {
        options,
        sets,
        timeout,
        retries,
        ..
    } = kind("main")
    else {
        panic!("main is a menu")
    };
    assert_eq!(
        options,
        &BTreeMap::from([
            ('0', id("check")),
            ('1', id("postcode")),
            ('2', id("hours")),
            ('9', id("emergency"))
        ])
    );
    assert_eq!(
        sets,
        &BTreeMap::from([('2', ("topic".to_owned(), "health".to_owned()))])
    );
    assert_eq!(
        (*timeout, retries.retries, retries.exhausted),
        (Duration::from_secs(6), 1, id("goodbye"))
    );
    assert_eq!(
        kind("say-postcode"),
        &NodeKind::Play {
            prompts: vec![PromptItem::Say {
                kind: SayKind::Digits,
                value: variable("postcode")
            }],
            barge_in: true,
            next: id("main"),
        }
    );
    let NodeKind::When {
        schedule,
        open,
        closed,
    } = kind("hours")
    else {
        panic!("hours is a when")
    };
    assert_eq!(Some(*schedule), p.calendar.schedule("staffed"));
    assert_eq!((*open, *closed), (id("queue"), id("out-of-hours")));
    assert_eq!(
        kind("queue"),
        &NodeKind::Queue {
            queue: "general".to_owned(),
            skills: vec![
                ("language".to_owned(), variable("language")),
                ("topic".to_owned(), variable("topic"))
            ],
            priority: 1,
            max_wait: Duration::from_secs(300),
            callback_key: Some('1'),
            after_call: Some(id("survey")),
            on_timeout: id("callback"),
            on_closed: id("out-of-hours"),
            on_callback: Some(id("callback")),
        }
    );
    let NodeKind::Callback {
        queue,
        use_caller_key,
        confirm,
        retries,
        next,
        ..
    } = kind("callback")
    else {
        panic!("callback")
    };
    assert_eq!(
        (
            queue.as_str(),
            *use_caller_key,
            confirm.yes_key,
            confirm.no_key
        ),
        ("callbacks", '1', '1', '2')
    );
    assert_eq!((retries.exhausted, *next), (id("goodbye"), id("goodbye")));
    assert_eq!(
        kind("message"),
        &NodeKind::Record {
            prompt: vec![prompt("leave-message")],
            beep: true,
            max_length: Duration::from_secs(60),
            silence: Duration::from_secs(5),
            next: id("goodbye"),
        }
    );
    let NodeKind::Survey {
        questions,
        timeout,
        next,
        ..
    } = kind("survey")
    else {
        panic!("survey")
    };
    let ids: Vec<&str> = questions.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(
        (ids, *timeout, *next),
        (vec!["overall", "resolved"], Duration::from_secs(6), None)
    );
    assert_eq!(
        kind("check"),
        &NodeKind::Sub {
            target: id("count"),
            next: id("back")
        }
    );
    assert_eq!(kind("done"), &NodeKind::Return);
    assert_eq!(kind("back"), &NodeKind::Goto { target: id("main") });
}

#[test]
fn toml_syntax_errors_stop_at_the_syntax() {
    assert_eq!(
        messages("broken/syntax.toml"),
        [
            "tests/fixtures/broken/syntax.toml:4:1: error: invalid TOML: missing comma between array elements, expected `,`",
        ]
    );
}

#[test]
fn unknown_unreachable_and_mistyped_nodes_and_keys() {
    assert_eq!(
        messages("broken/nodes.toml"),
        [
            "tests/fixtures/broken/nodes.toml:6:1: error: unknown key `colour` in `[dialplan]` (expected name, version, languages, start, calendar, queues, step_budget, max_ivr_secs)",
            "tests/fixtures/broken/nodes.toml:13:8: error: missing key `prompt` in menu node `main`",
            "tests/fixtures/broken/nodes.toml:15:1: error: unknown key `prompts` in menu node `main` (expected type, prompt, options, timeout_secs, retries, no_input, invalid, default, set)",
            "tests/fixtures/broken/nodes.toml:16:36: error: unknown node `mian` (did you mean `main`?)",
            "tests/fixtures/broken/nodes.toml:17:16: error: `timeout_secs` in menu node `main` must be an integer of at least 1, found a string",
            "tests/fixtures/broken/nodes.toml:20:8: error: invalid node name `Goodbye`: names are lowercase letters, digits, `-` and `_`",
            "tests/fixtures/broken/nodes.toml:20:8: error: node `Goodbye` is unreachable from the start node `welcome`",
            "tests/fixtures/broken/nodes.toml:24:8: error: unknown node type `hangpu`: expected one of play, menu, collect, language, when, queue, callback, record, survey, transfer, goto, sub, return, set, say, hangup",
            "tests/fixtures/broken/nodes.toml:26:8: error: node `lonely` is unreachable from the start node `welcome`",
            "tests/fixtures/broken/nodes.toml:28:11: error: `prompts` in play node `lonely` must not be empty",
            "tests/fixtures/broken/nodes.toml:29:12: error: `barge_in` in play node `lonely` must be true or false, found a string",
        ]
    );
}

#[test]
fn menu_keys_twice_invalid_or_not_options() {
    assert_eq!(
        messages("broken/menu.toml"),
        [
            "tests/fixtures/broken/menu.toml:10:45: error: key `1` is used twice in menu `main`",
            "tests/fixtures/broken/menu.toml:10:60: error: invalid key `10`: a key is one of 0-9, * or #",
            "tests/fixtures/broken/menu.toml:10:78: error: invalid key `a`: a key is one of 0-9, * or #",
            "tests/fixtures/broken/menu.toml:11:9: error: key `3` in `set` is not an option of menu `main`",
            "tests/fixtures/broken/menu.toml:11:43: error: `set` for key `2` of menu `main` must set exactly one variable",
            "tests/fixtures/broken/menu.toml:22:1: error: key `1` is used twice in menu `other`",
        ]
    );
}

#[test]
fn loops_that_never_wait_for_input_name_their_nodes() {
    assert_eq!(
        messages("broken/loop.toml"),
        [
            "tests/fixtures/broken/loop.toml:8:8: error: nodes `welcome` -> `hours` -> `again` -> `welcome` loop without ever waiting for input",
            "tests/fixtures/broken/loop.toml:23:8: error: nodes `goodbye` -> `goodbye` loop without ever waiting for input",
        ]
    );
}

#[test]
fn unknown_queues_schedules_and_languages() {
    assert_eq!(
        messages("broken/references.toml"),
        [
            "tests/fixtures/broken/references.toml:4:26: error: language `es` is listed twice",
            "tests/fixtures/broken/references.toml:11:12: error: unknown language `fr`: the dialplan's languages are ca, es",
            "tests/fixtures/broken/references.toml:16:12: error: unknown schedule `staffd` (schedules in tests/fixtures/broken/../valid/calendar.toml: staffed)",
            "tests/fixtures/broken/references.toml:22:9: error: unknown queue `generl` (queues in tests/fixtures/broken/../valid/queues.toml: general, callbacks)",
            "tests/fixtures/broken/references.toml:23:16: error: invalid key `11`: a key is one of 0-9, * or #",
        ]
    );
}

#[test]
fn files_that_cannot_be_read_are_reported_where_they_are_named() {
    assert_eq!(
        messages("broken/missing-files.toml"),
        [
            "tests/fixtures/broken/missing-files.toml:6:12: error: cannot read calendar file `calendars/nowhere.toml`: file not found",
            "tests/fixtures/broken/missing-files.toml:7:10: error: cannot read queues file `no-queues.toml`: file not found",
        ]
    );
}

#[test]
fn entries_with_bad_patterns_digit_counts_keys_and_templates() {
    assert_eq!(
        messages("broken/entries.toml"),
        [
            "tests/fixtures/broken/entries.toml:11:12: error: invalid variable name `post code`: names are lowercase letters, digits and `_`",
            "tests/fixtures/broken/entries.toml:12:14: error: `min_digits` (6) is greater than `max_digits` (5) in collect node `postcode`",
            "tests/fixtures/broken/entries.toml:14:14: error: invalid key `##`: a key is one of 0-9, * or #",
            "tests/fixtures/broken/entries.toml:15:11: error: invalid pattern `^(0[1-9]|[1-4][0-9]$`: unclosed group",
            "tests/fixtures/broken/entries.toml:16:11: error: `yes` and `no` of `confirm` of collect node `postcode` are the same key `1`",
            "tests/fixtures/broken/entries.toml:20:8: error: missing key `confirm` in callback node `callback`",
            "tests/fixtures/broken/entries.toml:24:11: error: invalid pattern `[6789`: unclosed character class",
            "tests/fixtures/broken/entries.toml:30:10: error: transfer target `112@emergencies.example` is not a SIP URI (sip: or sips:)",
            "tests/fixtures/broken/entries.toml:35:38: error: unclosed `${` in `${position`",
        ]
    );
}

#[test]
fn prompts_missing_in_a_language_and_values_that_cannot_be_said() {
    // A piece only times need, left out in Spanish.
    let numbers = say::pieces("es", SayKind::Number).expect("es has pieces");
    let times = say::pieces("es", SayKind::Time).expect("es has pieces");
    let piece = times
        .iter()
        .find(|p| !numbers.contains(p))
        .expect("times need pieces of their own");
    let prompts = catalog(&[("es", piece.as_str()), ("es", "num-0")]);
    let p = "tests/fixtures/broken/prompts.toml";
    assert_eq!(
        messages_with("broken/prompts.toml", &prompts),
        [
            format!("{p}:9:23: error: prompt `only-in-catalan` is missing in language `es`"),
            format!(
                "{p}:9:42: error: invalid prompt id `Bad Id`: ids are lowercase letters, digits, `-` and `_`"
            ),
            format!(
                "{p}:9:52: error: `prompts` in play node `welcome` must be a list of prompt ids and \
                 {{ say = ..., value = ... }} tables, found an integer in the list"
            ),
            format!(
                "{p}:14:20: error: unknown say kind `ordinal`: expected number, digits, duration or time"
            ),
            format!(
                "{p}:14:54: error: prompt `num-0` (a piece to say numbers) is missing in language `es`"
            ),
            format!("{p}:14:72: error: `three` cannot be said as a number"),
            format!(
                "{p}:14:91: error: prompt `{piece}` (a piece to say times) is missing in language `es`"
            ),
        ]
    );
}

#[test]
fn calendar_and_queue_file_problems_are_passed_through() {
    assert_eq!(
        messages("broken/calendar.toml"),
        [
            "tests/fixtures/broken/bad-calendar.toml:6:19: error: invalid date `2026-02-30`: February 2026 has 28 days",
            "tests/fixtures/broken/bad-calendar.toml:9:11: error: invalid time `25:00` in `07:00-25:00`: the day goes from 00:00 to 24:00",
            "tests/fixtures/broken/bad-queues.toml:4:9: error: queue `general` is defined twice",
        ]
    );
}

/// What CI's `ivr check dialplans/012.toml` relies on: the line's own flow
/// compiles against the committed prompts, calendar and queues.
#[test]
fn the_012_dialplan_compiles_against_the_committed_prompts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let prompts = PromptCatalog::from_dir(&root.join("prompts")).expect("prompts directory");
    match compile_file(&root.join("dialplans/012.toml"), &prompts) {
        Ok(out) => {
            assert_eq!(out.program.name, "012");
            assert_eq!(out.program.languages, ["ca", "es", "en", "oc"]);
            assert_eq!(
                out.sources.len(),
                3,
                "the dialplan, its calendar and its queues"
            );
            assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        }
        Err(diagnostics) => {
            let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            panic!("dialplans/012.toml does not compile:\n{}", text.join("\n"));
        }
    }
}

#[test]
fn a_directory_check_finds_the_dialplans_and_skips_the_files_beside_them() {
    let found = find_dialplans(Path::new("tests/fixtures/broken")).expect("fixtures directory");
    let names: Vec<String> =
        found.iter().filter_map(|p| p.file_name()?.to_str().map(str::to_owned)).collect();
    assert_eq!(
        names,
        [
            "calendar.toml", "entries.toml", "loop.toml", "menu.toml", "missing-files.toml", "nodes.toml",
            "prompts.toml", "references.toml", "syntax.toml",
        ]
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
    let found = find_dialplans(&root).expect("dialplans directory");
    assert_eq!(found, [root.join("012.toml")]);
}

/// The worked example of `docs/dialplans.md` prints what the document says
/// it prints, against the repository's calendar, queues and prompts.
#[test]
fn the_reference_worked_example_prints_what_the_reference_shows() {
    use ivr_dialplan::compile::{SourceText, Sources, compile_sources};

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/dialplans.md")).expect("the reference");
    let section = doc.split("## A worked example").nth(1).expect("a worked example section");
    let mut blocks = section.split("```").skip(1).step_by(2);
    let dialplan = blocks.next().expect("the dialplan block").strip_prefix("toml\n").expect("a toml block");
    let shown: Vec<&str> = blocks
        .next()
        .expect("the output block")
        .lines()
        .filter(|l| l.starts_with("dialplans/example.toml:"))
        .collect();

    let file = |written: &str| {
        let name = format!("dialplans/{written}");
        let text = std::fs::read_to_string(root.join(&name)).expect("a repository file");
        (written.to_owned(), SourceText { name, text })
    };
    let sources = Sources {
        dialplan: SourceText { name: "dialplans/example.toml".to_owned(), text: dialplan.to_owned() },
        files: BTreeMap::from([file("calendars/catalonia.toml"), file("queues.toml")]),
    };
    let prompts = PromptCatalog::from_dir(&root.join("prompts")).expect("prompts directory");
    let printed: Vec<String> =
        compile_sources(&sources, &prompts).expect_err("the example is broken").iter().map(ToString::to_string).collect();
    assert_eq!(printed, shown);
}
