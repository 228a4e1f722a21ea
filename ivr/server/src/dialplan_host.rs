//! The dialplan in force and its hot reload.
//!
//! Owns compiling the dialplan file (with the prompts it needs) at start-up,
//! and again on SIGHUP or when one of its files changes: the dialplan, the
//! calendar and queue files it names, and every prompt WAV. A version that
//! does not compile is refused with all its diagnostics logged, and the old
//! one keeps running. Compiling and reading WAVs is blocking work: it runs on
//! tokio's blocking pool, never on the engine's task. Calls keep the
//! `Arc<Program>` and the prompts of the version they started on.
//!
//! It must never swap in a version that `ivr check` would reject.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ivr_dialplan::compile::{self, CompileOutput};
use ivr_dialplan::diagnostics::Diagnostic;
use ivr_dialplan::program::Program;
use ivr_dialplan::prompts_catalog::PromptCatalog;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::prompts::{PromptError, PromptLibrary};

/// How often the files are looked at for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum DialplanError {
    #[error("the dialplan {path} has errors:\n{}", render(.diagnostics))]
    Invalid { path: PathBuf, diagnostics: Vec<Diagnostic> },
    #[error("cannot read the prompts in {path}: {reason}")]
    Catalog { path: PathBuf, reason: String },
    #[error(transparent)]
    Prompts(#[from] PromptError),
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A compiled dialplan with the prompt audio it plays.
#[derive(Debug, Clone)]
pub struct LoadedDialplan {
    pub program: Arc<Program>,
    pub prompts: Arc<PromptLibrary>,
    pub warnings: Vec<Diagnostic>,
    /// Files whose change triggers a reload.
    watched: Vec<PathBuf>,
}

/// What the console shows about the dialplan in force.
#[derive(Debug, Clone, Default)]
pub struct DialplanStatus {
    pub path: PathBuf,
    pub version: String,
    pub loaded_at: Option<SystemTime>,
    /// The last refused reload's diagnostics (empty when the last reload worked).
    pub last_refusal: Vec<String>,
    pub reloads: u64,
    pub refusals: u64,
}

/// Compiles `dialplan` against the prompts in `prompts_dir` and loads their audio.
pub fn load(dialplan: &Path, prompts_dir: &Path) -> Result<LoadedDialplan, DialplanError> {
    let catalog = PromptCatalog::from_dir(prompts_dir)
        .map_err(|e| DialplanError::Catalog { path: prompts_dir.to_path_buf(), reason: e.to_string() })?;
    let CompileOutput { program, warnings, sources } = compile::compile_file(dialplan, &catalog)
        .map_err(|diagnostics| DialplanError::Invalid { path: dialplan.to_path_buf(), diagnostics })?;
    let prompts = PromptLibrary::load(prompts_dir)?;
    let mut watched = sources;
    watched.extend(wav_files(prompts_dir));
    Ok(LoadedDialplan { program: Arc::new(program), prompts: Arc::new(prompts), warnings, watched })
}

fn wav_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Ok(inner) = std::fs::read_dir(&path) {
                out.extend(inner.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "wav")));
            }
        } else if path.extension().is_some_and(|e| e == "wav") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A fingerprint of the watched files (and of the prompt folders' listings,
/// so that an added WAV counts as a change).
fn fingerprint(watched: &[PathBuf], prompts_dir: &Path) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
    let mut files: Vec<PathBuf> = watched.to_vec();
    for wav in wav_files(prompts_dir) {
        if !files.contains(&wav) {
            files.push(wav);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
            (p, meta)
        })
        .collect()
}

/// Why a reload was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadCause {
    Signal,
    FilesChanged,
    Requested,
}

impl ReloadCause {
    pub fn label(self) -> &'static str {
        match self {
            ReloadCause::Signal => "SIGHUP",
            ReloadCause::FilesChanged => "files changed",
            ReloadCause::Requested => "requested",
        }
    }
}

/// Watches for SIGHUP, file changes and requests (from the console), and
/// sends every version that compiles to the engine on `installs`. Runs
/// until `stop` turns true.
pub async fn watch_and_reload(
    dialplan: PathBuf,
    prompts_dir: PathBuf,
    mut current: LoadedDialplan,
    status: Arc<RwLock<DialplanStatus>>,
    installs: mpsc::UnboundedSender<LoadedDialplan>,
    mut requests: mpsc::UnboundedReceiver<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGHUP: reload on file changes only");
            None
        }
    };
    let mut seen = fingerprint(&current.watched, &prompts_dir);
    let mut ticker = tokio::time::interval(WATCH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let cause = tokio::select! {
            _ = stop.changed() => return,
            Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => ReloadCause::Signal,
            Some(()) = requests.recv() => ReloadCause::Requested,
            _ = ticker.tick() => {
                let now_seen = {
                    let (watched, dir) = (current.watched.clone(), prompts_dir.clone());
                    tokio::task::spawn_blocking(move || fingerprint(&watched, &dir)).await.unwrap_or_default()
                };
                if now_seen == seen || now_seen.is_empty() {
                    continue;
                }
                seen = now_seen;
                ReloadCause::FilesChanged
            }
        };
        let (path, dir) = (dialplan.clone(), prompts_dir.clone());
        let result = tokio::task::spawn_blocking(move || load(&path, &dir)).await;
        let mut st = status.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match result {
            Ok(Ok(loaded)) => {
                let from = current.program.version.clone();
                let to = loaded.program.version.clone();
                for w in &loaded.warnings {
                    warn!(cause = cause.label(), "{w}");
                }
                info!(cause = cause.label(), %from, %to, "dialplan reloaded: new calls run the new version");
                st.version = to;
                st.loaded_at = Some(SystemTime::now());
                st.last_refusal.clear();
                st.reloads += 1;
                metrics::counter!(crate::telemetry::DIALPLAN_RELOADS_TOTAL, "result" => "installed").increment(1);
                seen = fingerprint(&loaded.watched, &prompts_dir);
                current = loaded.clone();
                if installs.send(loaded).is_err() {
                    return;
                }
            }
            Ok(Err(e)) => {
                error!(cause = cause.label(), version = %current.program.version, "dialplan reload refused; the running version stays:\n{e}");
                st.last_refusal = e.to_string().lines().map(str::to_owned).collect();
                st.refusals += 1;
                metrics::counter!(crate::telemetry::DIALPLAN_RELOADS_TOTAL, "result" => "refused").increment(1);
            }
            Err(e) => error!(error = %e, "the dialplan reload task failed"),
        }
    }
}
