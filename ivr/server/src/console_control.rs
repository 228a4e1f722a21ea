//! The server's side of the console: `ConsoleControl` (and `ControlPlane`)
//! implemented by forwarding every command to the engine task and reading
//! the live state the engine publishes.
//!
//! Owns the channels between the HTTP tasks and the engine task (with the
//! browser softphones' links, [`SoftphoneLinks`], which the engine task
//! polls itself), and the file writes of the admin pages (queue, agent and calendar files, written
//! whole and renamed into place). It must never touch engine state from an
//! HTTP task: the engine is changed only by the messages it receives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::task::Poll;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::UNIX_EPOCH;

use agent_console::{
    AcdFiles, AgentCommand, CalendarFile, ConsoleControl, ControlError, ControlPlane, DialplanInfo, Health, LiveState,
    MonitorRequest, Reply, SoftphoneLink, SoftphoneMessage,
};
use ivr_acd::{AcdConfig, AgentId};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{mpsc, oneshot, watch};

use crate::dialplan_host::{DialplanStatus, ReloadRequest};
use crate::engine::EngineStatus;
use crate::wiring::AgentPasswords;

/// What an HTTP task asks of the engine task, with where to answer.
pub enum ConsoleRequest {
    Agent { agent: AgentId, command: AgentCommand, reply: oneshot::Sender<Result<(), ControlError>> },
    /// New queue and agent files, with the agents' phone passwords already
    /// read: the engine applies both or neither.
    ApplyAcd { config: Box<AcdConfig>, passwords: AgentPasswords, reply: oneshot::Sender<Result<(), ControlError>> },
    /// A browser softphone's link for `agent`: the engine task keeps it
    /// in its [`SoftphoneLinks`].
    Softphone { agent: AgentId, link: SoftphoneLink },
    /// Monitoring: start, change mode or move (`Some`), or stop (`None`).
    Monitor { supervisor: String, request: Option<MonitorRequest>, reply: oneshot::Sender<Result<(), ControlError>> },
    /// A supervisor's own softphone link, kept by login.
    SupervisorSoftphone { supervisor: String, link: SoftphoneLink },
}

/// The browser softphones' links, held by the engine task: one receiver
/// and one sender per agent (or, `SoftphoneLinks<String>`, per supervisor
/// login), so no task per link is needed. A link is replaced by a newer one
/// for the same owner (its browser's socket closes when the old sender is
/// dropped).
#[derive(Debug)]
pub struct SoftphoneLinks<K = AgentId> {
    links: HashMap<K, SoftphoneLink>,
}

impl<K> Default for SoftphoneLinks<K> {
    fn default() -> Self {
        SoftphoneLinks { links: HashMap::new() }
    }
}

impl<K: Clone + Eq + std::hash::Hash> SoftphoneLinks<K> {
    pub fn insert(&mut self, agent: K, link: SoftphoneLink) {
        self.links.insert(agent, link);
    }

    /// The next message from any browser; `None` as the message: that
    /// agent's link closed (and is forgotten). Pending while no link has
    /// anything.
    pub async fn next(&mut self) -> (K, Option<SoftphoneMessage>) {
        let (agent, message) = std::future::poll_fn(|cx| {
            for (agent, link) in &mut self.links {
                if let Poll::Ready(message) = link.from_browser.poll_recv(cx) {
                    return Poll::Ready((agent.clone(), message));
                }
            }
            Poll::Pending
        })
        .await;
        if message.is_none() {
            self.links.remove(&agent);
        }
        (agent, message)
    }

    /// Queues `message` for `agent`'s browser without waiting: a browser
    /// that does not read its socket loses messages, not the engine's time.
    pub fn send(&mut self, agent: K, message: SoftphoneMessage) {
        let Some(link) = self.links.get(&agent) else { return };
        if let Err(e) = link.to_browser.try_send(message) {
            tracing::warn!(error = %e, "softphone message to the browser dropped");
        }
    }
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
    /// `acd.allow_demo_passwords`: the same rule for a live agents file as
    /// at start-up.
    pub allow_demo_passwords: bool,
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

    fn monitor(&self, request: MonitorRequest) -> Reply<'_, ()> {
        let supervisor = request.supervisor.clone();
        Box::pin(self.ask(move |reply| ConsoleRequest::Monitor { supervisor, request: Some(request), reply }))
    }

    fn stop_monitor(&self, supervisor: String) -> Reply<'_, ()> {
        Box::pin(self.ask(move |reply| ConsoleRequest::Monitor { supervisor, request: None, reply }))
    }

    fn supervisor_softphone(&self, supervisor: String, link: SoftphoneLink) -> Reply<'_, ()> {
        let sent = self.requests.send(ConsoleRequest::SupervisorSoftphone { supervisor, link }).map_err(|_| ControlError::ShuttingDown);
        Box::pin(async move { sent })
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
            // Every agent's phone password is read first (as at start-up): one
            // that cannot be read refuses the change before the engine sees it.
            let passwords = AgentPasswords::resolve(&config.agents, self.allow_demo_passwords).map_err(|e| {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "agents file refused");
                ControlError::AgentPassword { reason: e.to_string() }
            })?;
            // The engine checks the change first: nothing is written if it refuses.
            self.ask(|reply| ConsoleRequest::ApplyAcd { config: Box::new(config), passwords, reply }).await?;
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

    fn softphone(&self, agent: AgentId, link: SoftphoneLink) -> Reply<'_, ()> {
        let sent = self.requests.send(ConsoleRequest::Softphone { agent, link }).map_err(|_| ControlError::ShuttingDown);
        Box::pin(async move { sent })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use agent_console::{SoftphoneLink, SoftphoneMessage};
    use ivr_acd::AgentId;
    use tokio::sync::mpsc;

    use super::SoftphoneLinks;

    /// The browser's half of a link, as the console's relay holds it.
    fn link() -> (SoftphoneLink, mpsc::Sender<SoftphoneMessage>, mpsc::Receiver<SoftphoneMessage>) {
        let (to_engine, from_browser) = mpsc::channel(4);
        let (to_browser, for_browser) = mpsc::channel(1);
        (SoftphoneLink { from_browser, to_browser }, to_engine, for_browser)
    }

    async fn next(links: &mut SoftphoneLinks) -> (AgentId, Option<SoftphoneMessage>) {
        tokio::time::timeout(Duration::from_secs(5), links.next()).await.expect("a message within 5 s")
    }

    #[tokio::test]
    async fn messages_come_tagged_with_their_agent_and_a_closed_link_is_reported_once_then_forgotten() {
        let mut links = SoftphoneLinks::default();
        let (a, a_tx, mut a_rx) = link();
        let (b, b_tx, _b_rx) = link();
        links.insert(AgentId(1), a);
        links.insert(AgentId(2), b);

        b_tx.send(SoftphoneMessage::Ping).await.expect("the engine's side is open");
        assert_eq!(next(&mut links).await, (AgentId(2), Some(SoftphoneMessage::Ping)));
        a_tx.send(SoftphoneMessage::Bye { call: None }).await.expect("open");
        assert_eq!(next(&mut links).await, (AgentId(1), Some(SoftphoneMessage::Bye { call: None })));

        // The browser of agent 1 goes away: reported once, then the link is gone.
        drop(a_tx);
        assert_eq!(next(&mut links).await, (AgentId(1), None));
        links.send(AgentId(1), SoftphoneMessage::Pong);
        assert!(a_rx.recv().await.is_none(), "the forgotten link's sender is dropped: the relay closes the socket");
        b_tx.send(SoftphoneMessage::Ping).await.expect("open");
        assert_eq!(next(&mut links).await, (AgentId(2), Some(SoftphoneMessage::Ping)));
    }

    #[tokio::test]
    async fn a_browser_that_does_not_read_loses_messages_and_the_engine_never_waits() {
        let mut links = SoftphoneLinks::default();
        let (a, _a_tx, mut a_rx) = link();
        links.insert(AgentId(1), a);
        // Capacity 1: the second message is dropped, not awaited.
        links.send(AgentId(1), SoftphoneMessage::Pong);
        links.send(AgentId(1), SoftphoneMessage::Ping);
        assert_eq!(a_rx.recv().await, Some(SoftphoneMessage::Pong));
        assert!(a_rx.try_recv().is_err(), "the message the full queue could not take was dropped");
        // Messages for an agent with no link go nowhere.
        links.send(AgentId(9), SoftphoneMessage::Pong);
    }

    #[tokio::test]
    async fn a_newer_link_replaces_the_older_one_for_the_same_agent() {
        let mut links = SoftphoneLinks::default();
        let (old, _old_tx, mut old_rx) = link();
        let (new, new_tx, mut new_rx) = link();
        links.insert(AgentId(1), old);
        links.insert(AgentId(1), new);
        assert!(old_rx.recv().await.is_none(), "the old link's socket closes");
        links.send(AgentId(1), SoftphoneMessage::Pong);
        assert_eq!(new_rx.recv().await, Some(SoftphoneMessage::Pong));
        new_tx.send(SoftphoneMessage::Ping).await.expect("open");
        assert_eq!(next(&mut links).await, (AgentId(1), Some(SoftphoneMessage::Ping)));
    }
}
