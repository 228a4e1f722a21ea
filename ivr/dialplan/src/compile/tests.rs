//! The compiler on small in-memory dialplans (calendars and whole fixture
//! files are in `tests/check_*.rs`).

use super::*;
use crate::program::{PromptItem, Retries, Template, TemplatePart};

const HEADER: &str =
    "[dialplan]\nname = \"t\"\nlanguages = [\"ca\", \"es\"]\nstart = \"welcome\"\n";

fn catalog() -> PromptCatalog {
    let ids = [
        "welcome",
        "menu",
        "goodbye",
        "no-input",
        "invalid",
        "enter",
        "you-entered",
        "confirm",
    ];
    PromptCatalog::from_list(
        ["ca", "es"]
            .iter()
            .flat_map(|l| ids.iter().map(move |id| (*l, *id))),
    )
}

fn sources(text: &str) -> Sources {
    Sources {
        dialplan: SourceText {
            name: "t.toml".to_owned(),
            text: text.to_owned(),
        },
        files: BTreeMap::new(),
    }
}

fn compile_text(text: &str) -> Result<CompileOutput, Vec<String>> {
    compile_sources(&sources(text), &catalog())
        .map_err(|d| d.iter().map(ToString::to_string).collect())
}

fn errors(text: &str) -> Vec<String> {
    match compile_text(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn prompt(id: &str) -> PromptItem {
    PromptItem::Prompt(id.to_owned())
}

#[test]
fn a_small_dialplan_compiles_with_its_defaults() {
    let text = format!(
        "{HEADER}\n[nodes.welcome]\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"bye\"\n\n\
         [nodes.bye]\ntype = \"hangup\"\nprompts = [\"goodbye\"]\n"
    );
    let out = compile_text(&text).expect("valid");
    let p = &out.program;
    assert_eq!(p.name, "t");
    assert_eq!(p.languages, ["ca", "es"]);
    assert_eq!(p.node_names, ["welcome", "bye"]);
    assert_eq!(p.start, NodeId(0));
    assert_eq!(p.step_budget, 1000);
    assert_eq!(p.max_ivr_time, Duration::from_secs(900));
    assert_eq!(p.nodes[0].position, Position { line: 6, column: 8 });
    assert_eq!(
        p.nodes[0].kind,
        NodeKind::Play {
            prompts: vec![prompt("welcome")],
            barge_in: true,
            next: NodeId(1)
        }
    );
    assert_eq!(
        p.nodes[1].kind,
        NodeKind::Hangup {
            prompts: vec![prompt("goodbye")]
        }
    );
    assert!(out.warnings.is_empty());
    assert_eq!(out.sources, [PathBuf::from("t.toml")]);
    // The version is a hash of the text: stable, and changed by any edit.
    assert_eq!(p.version.len(), 12);
    assert_eq!(
        compile_text(&text).expect("valid").program.version,
        p.version
    );
    let edited = text.replace("\"goodbye\"]", "\"goodbye\", \"goodbye\"]");
    assert_ne!(
        compile_text(&edited).expect("valid").program.version,
        p.version
    );
    let versioned = text.replace("name = \"t\"", "name = \"t\"\nversion = \"2026.11.1\"");
    assert_eq!(
        compile_text(&versioned).expect("valid").program.version,
        "2026.11.1"
    );
}

#[test]
fn a_menu_compiles_its_options_sets_and_retries() {
    let text = format!(
        "{HEADER}step_budget = 50\n\n[nodes.welcome]\ntype = \"menu\"\nprompt = [\"menu\"]\n\
         options = {{ \"1\" = \"bye\", \"#\" = \"welcome\" }}\nset = {{ \"1\" = {{ topic = \"health\" }} }}\n\
         timeout_secs = 7\nretries = 1\nno_input = [\"no-input\"]\ninvalid = [\"invalid\"]\ndefault = \"bye\"\n\n\
         [nodes.bye]\ntype = \"hangup\"\n"
    );
    let p = compile_text(&text).expect("valid").program;
    assert_eq!(p.step_budget, 50);
    let NodeKind::Menu {
        prompt: menu_prompt,
        options,
        timeout,
        retries,
        sets,
    } = &p.nodes[0].kind
    else {
        panic!("a menu: {:?}", p.nodes[0].kind)
    };
    assert_eq!(menu_prompt, &vec![prompt("menu")]);
    assert_eq!(
        options,
        &BTreeMap::from([('1', NodeId(1)), ('#', NodeId(0))])
    );
    assert_eq!(*timeout, Duration::from_secs(7));
    assert_eq!(
        retries,
        &Retries {
            retries: 1,
            no_input: vec![prompt("no-input")],
            invalid: vec![prompt("invalid")],
            exhausted: NodeId(1)
        }
    );
    assert_eq!(
        sets,
        &BTreeMap::from([('1', ("topic".to_owned(), "health".to_owned()))])
    );
}

#[test]
fn a_collect_compiles_its_templates_keys_and_confirmation() {
    let text = format!(
        "{HEADER}\n[nodes.welcome]\ntype = \"collect\"\nprompt = [\"enter\"]\nvariable = \"postcode\"\n\
         min_digits = 5\nmax_digits = 5\nterminator = \"#\"\npattern = \"^[0-9]{{5}}$\"\n\
         confirm = {{ prefix = [\"you-entered\"], question = [\"confirm\"] }}\nsensitive = true\n\
         default = \"bye\"\nnext = \"set\"\n\n\
         [nodes.set]\ntype = \"set\"\nvalues = {{ where = \"pc-${{postcode}}\" }}\nnext = \"bye\"\n\n\
         [nodes.bye]\ntype = \"hangup\"\n"
    );
    let p = compile_text(&text).expect("valid").program;
    let NodeKind::Collect {
        min_digits,
        max_digits,
        terminator,
        pattern,
        confirm,
        sensitive,
        first_digit_timeout,
        ..
    } = &p.nodes[0].kind
    else {
        panic!("a collect")
    };
    assert_eq!(
        (*min_digits, *max_digits, *terminator, *sensitive),
        (5, 5, Some('#'), true)
    );
    assert_eq!(pattern.as_deref(), Some("^[0-9]{5}$"));
    assert_eq!(*first_digit_timeout, Duration::from_secs(8));
    let confirm = confirm.as_ref().expect("confirm");
    assert_eq!((confirm.yes_key, confirm.no_key), ('1', '2'));
    let template = Template {
        parts: vec![
            TemplatePart::Text("pc-".to_owned()),
            TemplatePart::Variable("postcode".to_owned()),
        ],
    };
    assert_eq!(
        p.nodes[1].kind,
        NodeKind::Set {
            assignments: vec![("where".to_owned(), template)],
            next: NodeId(2)
        }
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let text = format!(
        "{HEADER}\n[nodes.welcome]\ntype = \"play\"\nprompts = [\"welcome\", \"missing\"]\nnext = \"mian\"\ncolour = 1\n\n\
         [nodes.orphan]\ntype = \"menu\"\nprompt = [\"menu\"]\noptions = {{ \"10\" = \"welcome\" }}\ntimeout_secs = \"5\"\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.toml:8:23: error: prompt `missing` is missing in language `ca`",
            "t.toml:8:23: error: prompt `missing` is missing in language `es`",
            "t.toml:9:8: error: unknown node `mian`",
            "t.toml:10:1: error: unknown key `colour` in play node `welcome` (expected type, prompts, barge_in, next)",
            "t.toml:12:8: error: missing key `default` in menu node `orphan`",
            "t.toml:12:8: error: node `orphan` is unreachable from the start node `welcome`",
            "t.toml:15:13: error: invalid key `10`: a key is one of 0-9, * or #",
            "t.toml:16:16: error: `timeout_secs` in menu node `orphan` must be an integer of at least 1, found a string",
        ]
    );
}

#[test]
fn a_sub_flow_that_returns_at_once_into_itself_is_a_loop() {
    let text = format!(
        "{HEADER}\n[nodes.welcome]\ntype = \"sub\"\ntarget = \"helper\"\nnext = \"again\"\n\n\
         [nodes.again]\ntype = \"goto\"\ntarget = \"welcome\"\n\n[nodes.helper]\ntype = \"return\"\n"
    );
    assert_eq!(
        errors(&text),
        [
            "t.toml:6:8: error: nodes `welcome` -> `again` -> `welcome` loop without ever waiting for input"
        ]
    );
}

#[test]
fn files_the_dialplan_names_must_exist_and_are_reported_at_their_key() {
    let text = format!(
        "{HEADER}queues = \"queues.toml\"\n\n[nodes.welcome]\ntype = \"queue\"\nqueue = \"general\"\n\
         on_timeout = \"welcome\"\non_closed = \"welcome\"\n"
    );
    assert_eq!(
        errors(&text),
        ["t.toml:5:10: error: cannot read queues file `queues.toml`: file not found"]
    );
    let mut with_queues = sources(&text);
    let queues = SourceText {
        name: "q.toml".to_owned(),
        text: "[queues.health]\n".to_owned(),
    };
    with_queues.files.insert("queues.toml".to_owned(), queues);
    let errors: Vec<String> = compile_sources(&with_queues, &catalog())
        .expect_err("unknown queue")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        ["t.toml:9:9: error: unknown queue `general` (queues in q.toml: health)"]
    );
}

#[test]
fn a_queue_node_compiles_against_the_queues_file() {
    let text = format!(
        "{HEADER}queues = \"queues.toml\"\n\n[nodes.welcome]\ntype = \"queue\"\nqueue = \"general\"\n\
         skills = {{ language = \"${{language}}\" }}\npriority = -2\ncallback_key = \"*\"\n\
         on_timeout = \"welcome\"\non_closed = \"bye\"\n\n[nodes.bye]\ntype = \"hangup\"\n"
    );
    let mut s = sources(&text);
    let queues = SourceText {
        name: "q.toml".to_owned(),
        text: "[queues.general]\nagents = 3\n".to_owned(),
    };
    s.files.insert("queues.toml".to_owned(), queues);
    let out = compile_sources(&s, &catalog()).expect("valid");
    assert_eq!(
        out.sources,
        [PathBuf::from("t.toml"), PathBuf::from("q.toml")]
    );
    assert_eq!(out.program.queues, ["general"]);
    assert_eq!(
        out.program.nodes[0].kind,
        NodeKind::Queue {
            queue: "general".to_owned(),
            skills: vec![(
                "language".to_owned(),
                Template {
                    parts: vec![TemplatePart::Variable("language".to_owned())]
                }
            )],
            priority: -2,
            max_wait: Duration::from_secs(900),
            callback_key: Some('*'),
            after_call: None,
            on_timeout: NodeId(0),
            on_closed: NodeId(1),
            on_callback: None,
        }
    );
}

#[test]
fn setting_a_built_in_variable_is_a_warning_only() {
    let text = format!(
        "{HEADER}\n[nodes.welcome]\ntype = \"set\"\nvalues = {{ caller = \"x\" }}\nnext = \"bye\"\n\n\
         [nodes.bye]\ntype = \"hangup\"\n"
    );
    let out = compile_text(&text).expect("valid");
    let warnings: Vec<String> = out.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["t.toml:6:8: warning: set node `welcome` overwrites the built-in variable `caller`"]
    );
}

#[test]
fn an_empty_or_invalid_file_says_what_is_missing() {
    assert_eq!(
        errors(""),
        [
            "t.toml:1:1: error: missing table `[dialplan]`",
            "t.toml:1:1: error: missing table `[nodes]`"
        ]
    );
    assert_eq!(
        errors("[dialplan\n"),
        ["t.toml:1:10: error: invalid TOML: unclosed table, expected `]`"]
    );
}

#[test]
fn an_integer_spoken_value_is_said_as_its_number() {
    let text = format!(
        "{HEADER}\n[nodes.welcome]\ntype = \"say\"\nsay = \"number\"\nvalue = 1_000\nnext = \"bye\"\n\n\
         [nodes.bye]\ntype = \"hangup\"\n"
    );
    let mut prompts = vec![];
    for language in ["ca", "es"] {
        let pieces = say::pieces(language, SayKind::Number).expect("ca and es have pieces");
        prompts.extend(pieces.into_iter().map(|id| (language, id)));
    }
    let out = compile_sources(&sources(&text), &PromptCatalog::from_list(prompts)).expect("valid");
    let value = Template { parts: vec![TemplatePart::Text("1000".to_owned())] };
    assert_eq!(
        out.program.nodes[0].kind,
        NodeKind::Play { prompts: vec![PromptItem::Say { kind: SayKind::Number, value }], barge_in: true, next: NodeId(1) }
    );
}

#[test]
fn a_node_written_twice_is_named() {
    let text = format!(
        "{HEADER}\n[nodes.welcome]\ntype = \"hangup\"\n\n[nodes.welcome]\ntype = \"hangup\"\nprompts = [\"goodbye\"]\n"
    );
    assert_eq!(errors(&text), ["t.toml:9:8: error: node `welcome` is defined twice"]);
}

#[test]
fn a_language_without_any_prompts_is_one_error() {
    let text = "[dialplan]\nname = \"t\"\nlanguages = [\"ca\", \"en\"]\nstart = \"welcome\"\n\n\
                [nodes.welcome]\ntype = \"hangup\"\nprompts = [\"goodbye\", \"welcome\"]\n";
    assert_eq!(
        errors(text),
        ["t.toml:3:20: error: no prompts in language `en`: the prompts folder has no `en` folder"]
    );
}
