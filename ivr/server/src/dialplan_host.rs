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
//! Files are polled every [`WATCH_INTERVAL`] (modification time and size,
//! and the prompt folders' listings); a change is compiled once it has
//! stayed put for a moment, so a file being written is not read half-way.
//! A refused version is logged once, one line per diagnostic exactly as
//! `ivr check` prints it, and is not tried again until a file changes again
//! or another SIGHUP comes.
//!
//! It must never swap in a version that `ivr check` would reject.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ivr_dialplan::compile::{self, CompileOutput};
use ivr_dialplan::diagnostics::Diagnostic;
use ivr_dialplan::program::Program;
use ivr_dialplan::prompts_catalog::PromptCatalog;
use tokio::signal::unix::{Signal, SignalKind, signal};
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
    /// The dialplan, calendar and queues files it was compiled from.
    sources: Vec<PathBuf>,
    /// What the files were when this version was loaded: a change to any
    /// of them, or to the prompt WAVs, triggers a reload.
    files: WatchedFiles,
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
    load_reusing(dialplan, prompts_dir, None)
}

/// [`load`], keeping `previous`'s prompt audio when no WAV changed since
/// it was read: decoding and resampling every prompt is most of a reload's
/// time, and an edit to the dialplan alone needs none of it.
fn load_reusing(dialplan: &Path, prompts_dir: &Path, previous: Option<&LoadedDialplan>) -> Result<LoadedDialplan, DialplanError> {
    // Taken before anything is read, so that a change made while this
    // version loads is seen as a change afterwards.
    let prompt_files = fingerprint(&wav_files(prompts_dir));
    let catalog = PromptCatalog::from_dir(prompts_dir)
        .map_err(|e| DialplanError::Catalog { path: prompts_dir.to_path_buf(), reason: e.to_string() })?;
    let CompileOutput { program, warnings, sources } = compile::compile_file(dialplan, &catalog)
        .map_err(|diagnostics| DialplanError::Invalid { path: dialplan.to_path_buf(), diagnostics })?;
    let source_files = fingerprint(&sources);
    let prompts = match previous {
        Some(p) if p.files.prompts == prompt_files => p.prompts.clone(),
        _ => Arc::new(PromptLibrary::load(prompts_dir)?),
    };
    let files = WatchedFiles { sources: source_files, prompts: prompt_files };
    Ok(LoadedDialplan { program: Arc::new(program), prompts, warnings, sources, files })
}

/// Every `.wav` directly in `dir` or in one of its folders (one per language).
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
    out
}

/// Each file's modification time and size (`None`: it cannot be read), in
/// path order.
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    let mut files: Vec<PathBuf> = files.to_vec();
    files.sort();
    files.dedup();
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
            (p, meta)
        })
        .collect()
}

/// The watched files as they were, or are: a WAV added or removed changes
/// the prompts' listing, so it counts as a change too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct WatchedFiles {
    sources: Fingerprint,
    prompts: Fingerprint,
}

impl WatchedFiles {
    fn now(sources: &[PathBuf], prompts_dir: &Path) -> WatchedFiles {
        WatchedFiles { sources: fingerprint(sources), prompts: fingerprint(&wav_files(prompts_dir)) }
    }
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

/// A reload asked for by the console, with where to say how it went
/// (`Err`: the refusal's diagnostics, one per line).
pub type ReloadRequest = Option<tokio::sync::oneshot::Sender<Result<(), Vec<String>>>>;

/// Watches for SIGHUP, file changes and requests (from the console), and
/// sends every version that compiles to the engine on `installs`. Runs
/// until `stop` turns true.
///
/// The SIGHUP handler is installed when this is called, not when the task
/// first runs, so that a SIGHUP sent as soon as the server reports ready
/// reloads instead of ending the process (SIGHUP's default action). Call it
/// inside the runtime.
pub fn watch_and_reload(
    dialplan: PathBuf,
    prompts_dir: PathBuf,
    current: LoadedDialplan,
    status: Arc<RwLock<DialplanStatus>>,
    installs: mpsc::UnboundedSender<LoadedDialplan>,
    requests: mpsc::UnboundedReceiver<ReloadRequest>,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let hangups = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGHUP: reload on file changes only");
            None
        }
    };
    let reloader = Reloader { dialplan, prompts_dir, status, installs };
    reloader.run(current, hangups, requests, stop)
}

/// How long a changed file must stay unchanged before it is compiled, so
/// that a file being written is not read half-way (and refused for it).
const SETTLE: Duration = Duration::from_millis(300);

struct Reloader {
    dialplan: PathBuf,
    prompts_dir: PathBuf,
    status: Arc<RwLock<DialplanStatus>>,
    installs: mpsc::UnboundedSender<LoadedDialplan>,
}

impl Reloader {
    async fn run(
        self,
        mut current: LoadedDialplan,
        mut hangups: Option<Signal>,
        mut requests: mpsc::UnboundedReceiver<ReloadRequest>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut seen = current.files.clone();
        let mut ticker = tokio::time::interval(WATCH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut reply = None;
            let cause = tokio::select! {
                _ = stop.changed() => return,
                Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => ReloadCause::Signal,
                Some(request) = requests.recv() => {
                    reply = request;
                    ReloadCause::Requested
                }
                _ = ticker.tick() => {
                    let Some(now_seen) = self.files_now(&current).await else { continue };
                    if now_seen == seen {
                        continue;
                    }
                    tokio::time::sleep(SETTLE).await;
                    if self.files_now(&current).await.as_ref() != Some(&now_seen) {
                        // Still being written: look again at the next tick.
                        continue;
                    }
                    ReloadCause::FilesChanged
                }
            };
            // What the files were before this attempt: a refused version is
            // not tried again by the poller until a file changes again.
            seen = self.files_now(&current).await.unwrap_or(seen);
            let (path, dir, previous) = (self.dialplan.clone(), self.prompts_dir.clone(), current.clone());
            let result = tokio::task::spawn_blocking(move || load_reusing(&path, &dir, Some(&previous))).await;
            match result {
                Ok(Ok(loaded)) => {
                    seen = loaded.files.clone();
                    self.installed(cause, &current, &loaded);
                    current = loaded.clone();
                    if self.installs.send(loaded).is_err() {
                        return;
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                }
                Ok(Err(e)) => {
                    let lines = self.refused(cause, &current, &e);
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(lines));
                    }
                }
                Err(e) => error!(error = %e, "the dialplan reload task failed"),
            }
        }
    }

    /// The watched files as they are now, read on the blocking pool;
    /// `None` if that task failed.
    async fn files_now(&self, loaded: &LoadedDialplan) -> Option<WatchedFiles> {
        let (sources, dir) = (loaded.sources.clone(), self.prompts_dir.clone());
        tokio::task::spawn_blocking(move || WatchedFiles::now(&sources, &dir)).await.ok()
    }

    fn installed(&self, cause: ReloadCause, current: &LoadedDialplan, loaded: &LoadedDialplan) {
        let from = &current.program.version;
        let to = &loaded.program.version;
        for w in &loaded.warnings {
            warn!(cause = cause.label(), "{w}");
        }
        info!(cause = cause.label(), %from, %to, "dialplan reloaded: new calls run the new version");
        let mut st = self.status.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        st.version = to.clone();
        st.loaded_at = Some(SystemTime::now());
        st.last_refusal.clear();
        st.reloads += 1;
        metrics::counter!(crate::telemetry::DIALPLAN_RELOADS_TOTAL, "result" => "installed").increment(1);
    }

    /// Logs the refusal, then each diagnostic on its own line exactly as
    /// `ivr check` prints it.
    fn refused(&self, cause: ReloadCause, current: &LoadedDialplan, e: &DialplanError) -> Vec<String> {
        let lines: Vec<String> = match e {
            DialplanError::Invalid { diagnostics, .. } => diagnostics.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        };
        error!(
            cause = cause.label(),
            version = %current.program.version,
            problems = lines.len(),
            "dialplan reload refused; the running version stays"
        );
        for line in &lines {
            error!("{line}");
        }
        let mut st = self.status.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        st.last_refusal = lines.clone();
        st.refusals += 1;
        metrics::counter!(crate::telemetry::DIALPLAN_RELOADS_TOTAL, "result" => "refused").increment(1);
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder under the system temp dir, removed when dropped, holding a
    /// dialplan `t.toml` (see [`dialplan`]) and `prompts/ca/welcome.wav`.
    struct Folder {
        path: PathBuf,
        plan: PathBuf,
        prompts: PathBuf,
    }

    impl Folder {
        fn new(label: &str, next: &str) -> Folder {
            let path = std::env::temp_dir().join(format!("ivr-dialplan-host-{}-{label}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(path.join("prompts/ca")).expect("create the prompts folder");
            let (plan, prompts) = (path.join("t.toml"), path.join("prompts"));
            write_wav(&prompts.join("ca/welcome.wav"), 800);
            std::fs::write(&plan, dialplan("1", next)).expect("write the dialplan");
            Folder { path, plan, prompts }
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    fn write_wav(path: &Path, samples: usize) {
        let spec = hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut writer = hound::WavWriter::create(path, spec).expect("create a WAV");
        for i in 0..samples {
            writer.write_sample(((i % 50) as i16 - 25) * 100).expect("write a sample");
        }
        writer.finalize().expect("finish the WAV");
    }

    fn dialplan(version: &str, next: &str) -> String {
        format!(
            "[dialplan]\nname = \"t\"\nversion = \"{version}\"\nlanguages = [\"ca\"]\nstart = \"hello\"\n\n\
             [nodes.hello]\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"{next}\"\n\n\
             [nodes.bye]\ntype = \"hangup\"\n"
        )
    }

    #[test]
    fn a_reload_keeps_the_prompt_audio_unless_a_wav_changed() {
        let folder = Folder::new("reuse", "bye");
        let (plan, prompts) = (&folder.plan, &folder.prompts);
        let first = load(plan, prompts).expect("version 1 loads");
        assert_eq!(first.program.version, "1");

        std::fs::write(plan, dialplan("2", "bye")).expect("write the dialplan");
        let second = load_reusing(plan, prompts, Some(&first)).expect("version 2 loads");
        assert_eq!(second.program.version, "2");
        assert!(Arc::ptr_eq(&first.prompts, &second.prompts), "no WAV changed: the audio is not read again");
        assert_eq!(second.files.prompts, first.files.prompts);
        assert_ne!(second.files.sources, first.files.sources, "the dialplan's size changed");

        write_wav(&prompts.join("ca/welcome.wav"), 1_600);
        let third = load_reusing(plan, prompts, Some(&second)).expect("version 2 loads again");
        assert!(!Arc::ptr_eq(&second.prompts, &third.prompts), "a changed WAV is read again");
        assert_eq!(third.files, WatchedFiles::now(&third.sources, prompts), "nothing changed since");
    }

    #[test]
    fn a_broken_version_is_refused_with_every_diagnostic() {
        let folder = Folder::new("broken", "byee");
        let (plan, prompts) = (&folder.plan, &folder.prompts);
        let Err(DialplanError::Invalid { diagnostics, .. }) = load(plan, prompts) else {
            panic!("a dialplan naming an unknown node must be refused");
        };
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                format!("{}:10:8: error: unknown node `byee` (did you mean `bye`?)", plan.display()),
                format!("{}:12:8: error: node `bye` is unreachable from the start node `hello`", plan.display()),
            ]
        );
    }
}
