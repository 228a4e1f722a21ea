//! What the console needs from the engine: the [`ControlPlane`] (health and
//! metrics) and [`ConsoleControl`] (live state and commands), implemented by
//! the `ivr` server, which forwards each command to its engine task.
//!
//! Owns the vocabulary between console and engine. Must never hold engine
//! state itself: the console reads [`LiveState`] from a watch channel and
//! asks for every change by a command; it decides who may ask, never what
//! a command does to a call.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use ivr_acd::{AcdConfig, AcdError, AcdSnapshot, AgentId, CallId, QueueId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

/// The engine's answer to a command, boxed so that the trait stays
/// object-safe (`Arc<dyn ConsoleControl>`).
pub type Reply<'a, T> = Pin<Box<dyn Future<Output = Result<T, ControlError>> + Send + 'a>>;

/// Health and metrics: what `/health` and `/metrics` need.
pub trait ControlPlane: Send + Sync + 'static {
    fn health(&self) -> Health;
    /// The Prometheus text exposition of every metric.
    fn render_metrics(&self) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// False while shutting down: new calls are refused with 503.
    pub accepting_calls: bool,
    pub active_calls: u64,
    pub prompts_loaded: u64,
}

/// Everything else the console asks of the engine. The console has checked
/// the user's role and ownership before any call here; the engine checks
/// that the command fits the state (an [`AcdError`] changes nothing).
pub trait ConsoleControl: ControlPlane {
    /// The live state. The engine sends a new value within 1 s of any
    /// change of the ACD (every `AgentStateChanged` or `Log` output) or of a
    /// call's context (hold, mute, caller joined or left the IVR).
    fn live(&self) -> watch::Receiver<Arc<LiveState>>;

    /// An agent acts on their own status or call (a supervisor may send the
    /// status commands for any agent).
    fn agent_command(&self, agent: AgentId, command: AgentCommand) -> Reply<'_, ()>;

    /// A supervisor asks to listen to, whisper to or barge into the call of
    /// `request.agent`; the audio goes to the supervisor's softphone.
    fn monitor(&self, request: MonitorRequest) -> Reply<'_, ()>;

    /// The supervisor stops monitoring (their softphone session stays up).
    fn stop_monitor(&self, supervisor: String) -> Reply<'_, ()>;

    /// The dialplan in force and the last reload's outcome.
    fn dialplan(&self) -> DialplanInfo;

    /// Reload the dialplan now (as SIGHUP does). `Ok` when the new version
    /// is in force; a refused version is `ControlError::DialplanRefused`
    /// and the old one keeps running.
    fn reload_dialplan(&self) -> Reply<'_, ()>;

    /// The queue and agent files in force, as text.
    fn acd_files(&self) -> Reply<'_, AcdFiles>;

    /// Write both files and apply them without a restart. `config` is
    /// `AcdConfig::parse` of `files`, already checked by the console.
    fn apply_acd_files(&self, files: AcdFiles, config: AcdConfig) -> Reply<'_, ()>;

    /// The calendar files the dialplan uses, by file name.
    fn calendars(&self) -> Reply<'_, Vec<CalendarFile>>;

    /// Write one calendar file (already checked with `Calendar::parse`) and
    /// apply it without a restart. Only names returned by `calendars`.
    fn apply_calendar(&self, file: CalendarFile) -> Reply<'_, ()>;

    /// A browser softphone connected for `agent`: the engine reads the
    /// browser's signalling from `link.from_browser` and answers on
    /// `link.to_browser` until either side closes.
    fn softphone(&self, agent: AgentId, link: SoftphoneLink) -> Reply<'_, ()>;

    /// A supervisor's browser softphone connected (a session of its own,
    /// for monitoring): the same signalling as an agent's, by login.
    fn supervisor_softphone(&self, supervisor: String, link: SoftphoneLink) -> Reply<'_, ()>;
}

/// Why the engine did not do what was asked. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the queue refused: {0}")]
    Acd(#[from] AcdError),
    #[error("{0} is not a call of this agent")]
    NotYourCall(CallId),
    #[error("this engine cannot {what} while running")]
    NotSupported { what: &'static str },
    #[error("no calendar file is named {name:?}")]
    UnknownCalendar { name: String },
    #[error("the dialplan was refused; the old version keeps running")]
    DialplanRefused { diagnostics: Vec<String> },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An agent of a new agents file whose phone password cannot be read
    /// (a demo password where they are not allowed, an unset environment
    /// variable, an unreadable file): the change is refused whole.
    #[error("the agents file was refused: {reason}")]
    AgentPassword { reason: String },
    #[error("cannot monitor: {reason}")]
    MonitorRefused { reason: &'static str },
    #[error("the engine is shutting down")]
    ShuttingDown,
}

/// The engine's live state, as of `taken_at`.
#[derive(Debug, Clone)]
pub struct LiveState {
    pub taken_at: Instant,
    pub acd: AcdSnapshot,
    /// Every call queued or with an agent (offered, connected, on hold).
    pub calls: BTreeMap<CallId, CallContext>,
    /// Callers in the IVR, not (yet) in a queue.
    pub in_ivr: u32,
}

impl LiveState {
    pub fn new(taken_at: Instant) -> LiveState {
        LiveState { taken_at, acd: AcdSnapshot { queues: Vec::new(), agents: Vec::new() }, calls: BTreeMap::new(), in_ivr: 0 }
    }
}

/// What the caller already told the IVR, for the agent's screen.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CallContext {
    pub queue: Option<QueueId>,
    pub language: Option<String>,
    pub topic: Option<String>,
    /// `welcome>choose-language[2]>main[3]>health` (`ivr_store::IvrPath`).
    pub ivr_path: String,
    /// The same caller (pseudonym) called in the last days.
    pub repeat_caller: bool,
    /// A queued callback: the agent will call the caller back.
    pub callback: bool,
    /// The caller's number in clear (personal data): the console masks it
    /// unless the role allows. `None`: withheld.
    pub caller_number: Option<String>,
    pub on_hold: bool,
    pub muted: bool,
    /// A supervisor monitors the call.
    pub monitor: Option<CallMonitor>,
}

/// Who monitors a call, and how (a privacy-relevant access: the wallboard
/// shows it, the call's timeline keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallMonitor {
    /// The supervisor's console login.
    pub supervisor: String,
    pub mode: MonitorMode,
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("queue", &self.queue)
            .field("language", &self.language)
            .field("topic", &self.topic)
            .field("ivr_path", &self.ivr_path)
            .field("caller_number", &self.caller_number.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// An agent's command, checked by the console against the live state
/// (the call is offered to, or connected to, this agent) before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    /// Log in and become available.
    Login,
    Available,
    Break { reason: String },
    Logout,
    /// End wrap-up now; the disposition code and notes go to the call record.
    WrapUpDone { call: Option<CallId>, disposition: Option<String>, notes: Option<String> },
    /// Answer the offer (browser softphone: the engine connects the call to
    /// the agent's softphone leg).
    Answer { call: CallId },
    /// Decline the offer (the ACD counts it as `OfferFailure::Declined`).
    Reject { call: CallId },
    Hangup { call: CallId },
    Hold { call: CallId, on: bool },
    Mute { call: CallId, on: bool },
    /// Blind transfer: the call leaves this agent (who goes to wrap-up).
    Transfer { call: CallId, to: TransferTarget },
    /// The caller goes to the satisfaction survey; the agent to wrap-up.
    SendToSurvey { call: CallId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTarget {
    Queue(QueueId),
    Agent(AgentId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// Hear both sides; nobody hears the supervisor.
    Listen,
    /// Hear both sides; only the agent hears the supervisor.
    Whisper,
    /// A three-way call.
    Barge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorRequest {
    /// The console user asking (their softphone gets the audio).
    pub supervisor: String,
    pub agent: AgentId,
    pub mode: MonitorMode,
}

/// The dialplan in force.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DialplanInfo {
    pub path: String,
    pub version: String,
    /// Epoch milliseconds of the load of the version in force.
    pub loaded_at_ms: Option<i64>,
    /// The last refused reload's diagnostics (empty after a good reload).
    pub last_refusal: Vec<String>,
    pub reloads: u64,
    pub refusals: u64,
}

/// `queues.toml` and `agents.toml` as text, with the names used in errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcdFiles {
    pub queues_file: String,
    pub queues_toml: String,
    pub agents_file: String,
    pub agents_toml: String,
}

/// One calendar file (holidays, opening hours) by file name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarFile {
    /// The file name, e.g. `catalonia.toml`.
    pub name: String,
    pub toml: String,
}

/// The browser's side of a softphone connection: messages both ways.
/// Dropping `to_browser` closes the WebSocket; `from_browser` ending means
/// the browser went away (the engine must not leave a caller in silence).
#[derive(Debug)]
pub struct SoftphoneLink {
    pub from_browser: mpsc::Receiver<SoftphoneMessage>,
    pub to_browser: mpsc::Sender<SoftphoneMessage>,
}

/// WebRTC signalling on `/api/softphone`, JSON with a `type` tag, both
/// directions. Who sends which is in `docs/console.md`; the media work is
/// the softphone's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SoftphoneMessage {
    /// An SDP offer (either side may offer; the engine offers for an
    /// incoming call, the browser for a renegotiation).
    Offer { call: Option<u64>, sdp: String },
    Answer { call: Option<u64>, sdp: String },
    /// A trickled ICE candidate (`candidate: ""` is end of candidates).
    Ice { candidate: String, sdp_mid: Option<String>, sdp_m_line_index: Option<u16> },
    /// The engine's media leg for `call` is gone (or the browser hangs up).
    Bye { call: Option<u64> },
    /// Keepalive (the browser sends one every 10 s; the engine answers).
    Ping,
    Pong,
    /// The other side could not use the last message.
    Error { reason: String },
}
