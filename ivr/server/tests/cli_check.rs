//! `ivr check PATH...` as an operator runs it: the built `ivr` binary, run
//! from the repository root on the line's real dialplan and on a broken copy
//! of it (`tests/fixtures/broken-012/`, every problem deliberate and listed
//! at its top). What it prints is checked word for word, and its exit code:
//! 0 when every dialplan compiles, 1 otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use ivr_dialplan::compile::compile_file;
use ivr_dialplan::prompts_catalog::PromptCatalog;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root exists")
}

/// Runs `ivr check ARGS...` in the repository root (so `prompts/` is the
/// default prompts directory); returns the exit code and stdout.
fn ivr_check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .arg("check")
        .args(args)
        .current_dir(repo_root())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the ivr binary");
    let stdout = String::from_utf8(out.stdout).expect("ivr check prints UTF-8");
    let code = out.status.code().expect("ivr check exits, it is not killed");
    (code, stdout)
}

/// The line `ivr check` prints for the real 012 dialplan: its version and
/// size as the compiler itself gives them.
fn ok_line_for_012() -> String {
    let root = repo_root();
    let catalog = PromptCatalog::from_dir(&root.join("prompts")).expect("the repository's prompts");
    let program = compile_file(&root.join("dialplans/012.toml"), &catalog).expect("012 compiles").program;
    assert_eq!(program.version.len(), 12, "without a `version` key the version is a 12-digit hash");
    assert!(program.version.chars().all(|c| c.is_ascii_hexdigit()), "{}", program.version);
    format!(
        "dialplans/012.toml: ok: dialplan `012` version {}, {} nodes, languages ca, es, en, oc",
        program.version,
        program.nodes.len()
    )
}

#[test]
fn the_line_012_dialplan_passes_and_its_version_is_named() {
    let (code, out) = ivr_check(&["dialplans/012.toml"]);
    assert_eq!(out, format!("{}\n1 dialplan(s) checked: 0 error(s), 0 warning(s)\n", ok_line_for_012()));
    assert_eq!(code, 0);
}

#[test]
fn the_dialplans_directory_passes_and_its_calendar_queues_and_agents_are_not_taken_for_dialplans() {
    let (code, out) = ivr_check(&["dialplans/"]);
    assert_eq!(out, format!("{}\n1 dialplan(s) checked: 0 error(s), 0 warning(s)\n", ok_line_for_012()));
    assert_eq!(code, 0);
}

const BROKEN: &str = "ivr/server/tests/fixtures/broken-012";

/// Every deliberate problem of the broken copy, in file and position order.
fn broken_diagnostics() -> Vec<String> {
    [
        "012.toml:37:23: error: prompt `num-and` is missing in language `ca`",
        "012.toml:37:23: error: prompt `num-and` is missing in language `es`",
        "012.toml:37:23: error: prompt `num-and` is missing in language `oc`",
        "012.toml:58:8: error: unknown node `mian` (did you mean `main`?)",
        "012.toml:84:8: error: nodes `main-exhausted` -> `operator-check` -> `main-exhausted` loop without ever waiting for input",
        &format!("012.toml:185:9: error: unknown queue `generl` (queues in {BROKEN}/queues.toml: general)"),
        "012.toml:209:65: error: key `3` is used twice in menu `contact-options`",
        "calendars/catalonia.toml:27:12: error: invalid date `2026-02-30`: February 2026 has 28 days",
    ]
    .iter()
    .map(|line| format!("{BROKEN}/{line}"))
    .collect()
}

#[test]
fn a_broken_copy_of_012_fails_with_every_problem_at_its_file_line_and_column() {
    let (code, out) = ivr_check(&[&format!("{BROKEN}/012.toml")]);
    let mut expected = broken_diagnostics();
    expected.push("1 dialplan(s) checked: 8 error(s), 0 warning(s)".to_owned());
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "\n{out}");
    assert_eq!(code, 1);
}

#[test]
fn a_broken_dialplan_beside_a_good_one_fails_and_both_are_reported() {
    let (code, out) = ivr_check(&["dialplans/012.toml", &format!("{BROKEN}/")]);
    let mut expected = vec![ok_line_for_012()];
    expected.extend(broken_diagnostics());
    expected.push("2 dialplan(s) checked: 8 error(s), 0 warning(s)".to_owned());
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "\n{out}");
    assert_eq!(code, 1);
}

#[test]
fn a_missing_path_fails_with_a_clear_message() {
    let (code, out) = ivr_check(&["dialplans/013.toml"]);
    assert_eq!(out, "dialplans/013.toml: error: cannot read: no such file or directory\n0 dialplan(s) checked: 1 error(s), 0 warning(s)\n");
    assert_eq!(code, 1);
}

#[test]
fn a_directory_with_no_dialplan_fails_even_when_another_path_passes() {
    let (code, out) = ivr_check(&["dialplans/calendars", "dialplans/012.toml"]);
    assert_eq!(
        out,
        format!(
            "dialplans/calendars: error: no dialplan in this directory (a dialplan is a .toml file with a [dialplan] table)\n\
             {}\n1 dialplan(s) checked: 1 error(s), 0 warning(s)\n",
            ok_line_for_012()
        )
    );
    assert_eq!(code, 1);
}

#[test]
fn prompts_that_cannot_be_read_fail_and_say_how_to_give_them() {
    let (code, out) = ivr_check(&["dialplans/012.toml", "--prompts", "no-prompts-here"]);
    assert_eq!(
        out,
        "no-prompts-here: error: cannot read the prompts directory: no such file or directory \
         (the prompts are <dir>/<language>/<id>.wav; give the directory with --prompts DIR)\n\
         0 dialplan(s) checked: 1 error(s), 0 warning(s)\n"
    );
    assert_eq!(code, 1);
}
