//! `ivr check PATH...`: compiles dialplans and reports every problem at once.
//!
//! Owns finding the dialplans among the paths given (a file is checked as a
//! dialplan; a directory means every `*.toml` directly in it that has a
//! `[dialplan]` table, found by the compiler's `find_dialplans`; the
//! calendar and queue files they name are checked through them) and
//! printing the diagnostics, one `file:line:col: error: ...` line each, then
//! an `ok` line per valid dialplan naming its version, then a summary.
//!
//! It must never stop at the first error, and never pass when nothing was
//! checked: a missing path, a directory without a dialplan or an unreadable
//! prompts directory are errors.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use ivr_dialplan::compile;
use ivr_dialplan::prompts_catalog::{PromptCatalog, PromptCatalogError};

/// The outcome of a check run: what to print and whether everything passed.
#[derive(Debug)]
pub struct CheckReport {
    pub output: String,
    pub errors: usize,
    pub warnings: usize,
    pub dialplans: usize,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.errors == 0 && self.dialplans > 0
    }

    fn error(&mut self, place: &Path, message: &str) {
        let _ = writeln!(self.output, "{}: error: {message}", place.display());
        self.errors += 1;
    }
}

/// Checks the dialplans found at `paths` against the prompts in `prompts_dir`.
pub fn check(paths: &[PathBuf], prompts_dir: &Path) -> CheckReport {
    let mut report = CheckReport { output: String::new(), errors: 0, warnings: 0, dialplans: 0 };
    let catalog = match PromptCatalog::from_dir(prompts_dir) {
        Ok(c) => c,
        Err(PromptCatalogError::Read { path, source }) => {
            let message = format!(
                "cannot read the prompts directory: {} (the prompts are <dir>/<language>/<id>.wav; give the directory with --prompts DIR)",
                io_reason(&source)
            );
            report.error(&path, &message);
            summary(&mut report);
            return report;
        }
    };
    for path in paths {
        let files = match dialplans_at(path) {
            Ok(files) => files,
            Err(message) => {
                report.error(path, &message);
                continue;
            }
        };
        for file in files {
            report.dialplans += 1;
            check_one(&mut report, &file, &catalog);
        }
    }
    summary(&mut report);
    report
}

fn check_one(report: &mut CheckReport, file: &Path, catalog: &PromptCatalog) {
    match compile::compile_file(file, catalog) {
        Ok(out) => {
            for w in &out.warnings {
                let _ = writeln!(report.output, "{w}");
            }
            report.warnings += out.warnings.len();
            let p = &out.program;
            let _ = writeln!(
                report.output,
                "{}: ok: dialplan `{}` version {}, {} nodes, languages {}",
                file.display(),
                p.name,
                p.version,
                p.nodes.len(),
                p.languages.join(", ")
            );
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                let _ = writeln!(report.output, "{d}");
            }
            // A refused dialplan counts as failed even if the compiler only
            // returned warnings.
            let errors = diagnostics.iter().filter(|d| d.is_error()).count().max(1);
            report.errors += errors;
            report.warnings += diagnostics.len().saturating_sub(errors);
        }
    }
}

fn summary(report: &mut CheckReport) {
    let _ = writeln!(
        report.output,
        "{} dialplan(s) checked: {} error(s), {} warning(s)",
        report.dialplans, report.errors, report.warnings
    );
}

/// The dialplan files at `path`: the file itself, or a directory's
/// dialplans. A directory without one is an error, so that a mistyped
/// folder never passes.
fn dialplans_at(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {}", io_reason(&e)))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let found = compile::find_dialplans(path).map_err(|e| format!("cannot list the directory: {}", io_reason(&e)))?;
    if found.is_empty() {
        return Err("no dialplan in this directory (a dialplan is a .toml file with a [dialplan] table)".to_owned());
    }
    Ok(found)
}

fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_prompts() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts")
    }

    #[test]
    fn a_missing_path_is_an_error_not_a_pass() {
        let report = check(&[PathBuf::from("/nonexistent/dialplans")], &repo_prompts());
        assert!(!report.passed());
        assert_eq!(
            report.output,
            "/nonexistent/dialplans: error: cannot read: no such file or directory\n\
             0 dialplan(s) checked: 1 error(s), 0 warning(s)\n"
        );
    }

    #[test]
    fn a_directory_without_a_dialplan_fails_even_beside_a_good_one() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        // Holds a calendar file, which is TOML but not a dialplan.
        let empty = repo.join("dialplans/calendars");
        let report = check(&[repo.join("dialplans/012.toml"), empty.clone()], &repo_prompts());
        assert!(!report.passed(), "{}", report.output);
        assert_eq!((report.dialplans, report.errors), (1, 1), "{}", report.output);
        assert!(
            report.output.contains(&format!(
                "{}: error: no dialplan in this directory (a dialplan is a .toml file with a [dialplan] table)\n",
                empty.display()
            )),
            "{}",
            report.output
        );
    }

    #[test]
    fn an_unreadable_prompts_directory_says_how_to_give_it() {
        let report = check(&[PathBuf::from("dialplans/012.toml")], Path::new("/nonexistent/prompts"));
        assert!(!report.passed());
        assert!(
            report.output.starts_with(
                "/nonexistent/prompts: error: cannot read the prompts directory: no such file or directory \
                 (the prompts are <dir>/<language>/<id>.wav; give the directory with --prompts DIR)\n"
            ),
            "{}",
            report.output
        );
    }
}
