//! `ivr check PATH...`: compiles dialplans and reports every problem at once.
//!
//! Owns finding the dialplans among the paths given (a directory means every
//! `*.toml` directly in it that has a `[dialplan]` table; the calendar and
//! queue files they name are checked through them) and printing the
//! diagnostics. It must never stop at the first error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ivr_dialplan::compile;
use ivr_dialplan::prompts_catalog::PromptCatalog;

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
}

/// Checks the dialplans found at `paths` against the prompts in `prompts_dir`.
pub fn check(paths: &[PathBuf], prompts_dir: &Path) -> CheckReport {
    let mut report = CheckReport { output: String::new(), errors: 0, warnings: 0, dialplans: 0 };
    let catalog = match PromptCatalog::from_dir(prompts_dir) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(report.output, "{}: error: cannot read the prompts: {e}", prompts_dir.display());
            report.errors += 1;
            return report;
        }
    };
    for path in paths {
        let files = match dialplans_at(path) {
            Ok(files) => files,
            Err(message) => {
                let _ = writeln!(report.output, "{}: error: {message}", path.display());
                report.errors += 1;
                continue;
            }
        };
        for file in files {
            report.dialplans += 1;
            match compile::compile_file(&file, &catalog) {
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
                    let errors = diagnostics.iter().filter(|d| d.is_error()).count().max(1);
                    report.errors += errors;
                    report.warnings += diagnostics.len().saturating_sub(errors);
                }
            }
        }
    }
    if report.dialplans == 0 && report.errors == 0 {
        let _ = writeln!(report.output, "error: no dialplan found (a dialplan is a .toml file with a [dialplan] table)");
        report.errors += 1;
    }
    let _ = writeln!(
        report.output,
        "{} dialplan(s) checked: {} error(s), {} warning(s)",
        report.dialplans, report.errors, report.warnings
    );
    report
}

/// The dialplan files at `path`: the file itself, or a directory's `*.toml`
/// files that hold a `[dialplan]` table.
fn dialplans_at(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("cannot list: {e}"))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|text| has_dialplan_table(&text)))
        .collect();
    files.sort();
    Ok(files)
}

fn has_dialplan_table(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "[dialplan]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_with_a_dialplan_table_are_dialplans() {
        assert!(has_dialplan_table("# x\n[dialplan]\nname = \"012\"\n"));
        assert!(!has_dialplan_table("[queues.general]\nstrategy = \"longest_idle\"\n"));
    }

    #[test]
    fn a_missing_path_is_an_error_not_a_pass() {
        let report = check(&[PathBuf::from("/nonexistent/dialplans")], Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts").as_path());
        assert!(!report.passed());
        assert!(report.output.contains("/nonexistent/dialplans: error: cannot read"), "{}", report.output);
    }
}
