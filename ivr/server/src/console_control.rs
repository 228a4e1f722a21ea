//! The server's side of the console: `ConsoleControl` (and `ControlPlane`)
//! implemented by forwarding every command to the engine task and reading
//! the live state the engine publishes.
//!
//! Owns the channels between the HTTP tasks and the engine task, and the
//! file writes of the admin pages (queue, agent and calendar files, written
//! whole and renamed into place). It must never touch engine state from an
//! HTTP task: the engine is changed only by the messages it receives.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::UNIX_EPOCH;

use agent_console::{
    AcdFiles, AgentCommand, CalendarFile, ConsoleControl, ControlError, ControlPlane, DialplanInfo, Health, LiveState,
    MonitorRequest, Reply, SoftphoneLink,
};
use ivr_acd::{AcdConfig, AgentId};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{mpsc, oneshot, watch};

use crate::dialplan_host::{DialplanStatus, ReloadRequest};
use crate::engine::EngineStatus;

/// What an HTTP task asks of the engine task, with where to answer.
pub enum ConsoleRequest {
    Agent { agent: AgentId, command: AgentCommand, reply: oneshot::Sender<Result<(), ControlError>> },
    ApplyAcd { config: Box<AcdConfig>, reply: oneshot::Sender<Result<(), ControlError>> },
}

pub struct EngineConsole {
    pub status: Arc<EngineStatus>,
    pub prompts_loaded: u64,
    pub metrics: PrometheusHandle,
    pub requests: mpsc::UnboundedSender<ConsoleRequest>,
    pub live: watch::Receiver<Arc<LiveState>>,
    pub dialplan_status: Arc<RwLock<DialplanStatus>>,
    pub reloads: mpsc::UnboundedSender<ReloadRequest>,
    pub queues_file: PathBuf,
    pub agents_file: PathBuf,
    /// The folder of the dialplan's calendar files.
    pub calendars_dir: PathBuf,
}

impl ControlPlane for EngineConsole {
    fn health(&self) -> Health {
        Health {
            accepting_calls: self.status.accepting_calls.load(Ordering::Relaxed),
            active_calls: self.status.active_calls.load(Ordering::Relaxed),
            prompts_loaded: self.prompts_loaded,
        }
    }

    fn render_metrics(&self) -> String {
        self.metrics.render()
    }
}

impl EngineConsole {
    async fn ask(&self, request: impl FnOnce(oneshot::Sender<Result<(), ControlError>>) -> ConsoleRequest) -> Result<(), ControlError> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(request(tx)).map_err(|_| ControlError::ShuttingDown)?;
        rx.await.map_err(|_| ControlError::ShuttingDown)?
    }

    async fn reload(&self) -> Result<(), ControlError> {
        let (tx, rx) = oneshot::channel();
        self.reloads.send(Some(tx)).map_err(|_| ControlError::ShuttingDown)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(diagnostics)) => Err(ControlError::DialplanRefused { diagnostics }),
            Err(_) => Err(ControlError::ShuttingDown),
        }
    }

    fn calendar_names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.calendars_dir) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        names.sort();
        names
    }
}

/// Writes `text` to `path` whole: a temporary file in the same folder,
/// fsynced, then renamed over the old one (readers never see half a file).
fn write_whole(path: &Path, text: &str) -> Result<(), ControlError> {
    use std::io::Write;
    let error = |source| ControlError::Write { path: path.to_path_buf(), source };
    let tmp = path.with_extension("toml.new");
    let mut file = std::fs::File::create(&tmp).map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&tmp, path).map_err(error)
}

fn file_name(path: &Path) -> String {
    path.display().to_string()
}

impl ConsoleControl for EngineConsole {
    fn live(&self) -> watch::Receiver<Arc<LiveState>> {
        self.live.clone()
    }

    fn agent_command(&self, agent: AgentId, command: AgentCommand) -> Reply<'_, ()> {
        Box::pin(self.ask(move |reply| ConsoleRequest::Agent { agent, command, reply }))
    }

    fn monitor(&self, _request: MonitorRequest) -> Reply<'_, ()> {
        Box::pin(async { Err(ControlError::NotSupported { what: "monitor a call before supervisor softphones are connected" }) })
    }

    fn dialplan(&self) -> DialplanInfo {
        let st = self.dialplan_status.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        DialplanInfo {
            path: st.path.display().to_string(),
            version: st.version.clone(),
            loaded_at_ms: st.loaded_at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as i64),
            last_refusal: st.last_refusal.clone(),
            reloads: st.reloads,
            refusals: st.refusals,
        }
    }

    fn reload_dialplan(&self) -> Reply<'_, ()> {
        Box::pin(self.reload())
    }

    fn acd_files(&self) -> Reply<'_, AcdFiles> {
        Box::pin(async move {
            let read = |path: &Path| {
                std::fs::read_to_string(path).map_err(|source| ControlError::Write { path: path.to_path_buf(), source })
            };
            Ok(AcdFiles {
                queues_file: file_name(&self.queues_file),
                queues_toml: read(&self.queues_file)?,
                agents_file: file_name(&self.agents_file),
                agents_toml: read(&self.agents_file)?,
            })
        })
    }

    fn apply_acd_files(&self, files: AcdFiles, config: AcdConfig) -> Reply<'_, ()> {
        Box::pin(async move {
            // The engine checks the change first: nothing is written if it refuses.
            self.ask(|reply| ConsoleRequest::ApplyAcd { config: Box::new(config), reply }).await?;
            write_whole(&self.queues_file, &files.queues_toml)?;
            write_whole(&self.agents_file, &files.agents_toml)
        })
    }

    fn calendars(&self) -> Reply<'_, Vec<CalendarFile>> {
        Box::pin(async move {
            let mut files = Vec::new();
            for name in self.calendar_names() {
                let path = self.calendars_dir.join(&name);
                let toml = std::fs::read_to_string(&path).map_err(|source| ControlError::Write { path, source })?;
                files.push(CalendarFile { name, toml });
            }
            Ok(files)
        })
    }

    fn apply_calendar(&self, file: CalendarFile) -> Reply<'_, ()> {
        Box::pin(async move {
            if !self.calendar_names().contains(&file.name) {
                return Err(ControlError::UnknownCalendar { name: file.name });
            }
            let path = self.calendars_dir.join(&file.name);
            let old = std::fs::read_to_string(&path).map_err(|source| ControlError::Write { path: path.clone(), source })?;
            write_whole(&path, &file.toml)?;
            // The calendar is part of the dialplan: in force once it reloads.
            match self.reload().await {
                Err(refused @ ControlError::DialplanRefused { .. }) => {
                    write_whole(&path, &old)?;
                    Err(refused)
                }
                other => other,
            }
        })
    }

    fn softphone(&self, _agent: AgentId, _link: SoftphoneLink) -> Reply<'_, ()> {
        Box::pin(async { Err(ControlError::NotSupported { what: "connect a browser softphone yet" }) })
    }
}
