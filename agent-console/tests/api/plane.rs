//! `AcdPlane`: a `ConsoleControl` for the tests, backed by a real
//! `ivr_acd::Acd` loaded from the line's own queue and agent files, a real
//! dialplan compile for reloads, and real files in a temporary folder for
//! configuration writes. It does what the server's engine task does for
//! the console (minus SIP and media): every command drives the ACD, and
//! the new live state is published before the reply, as the server must.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use agent_console::{
    AcdFiles, AgentCommand, CalendarFile, CallContext, Clock, ConsoleControl, ControlError, ControlPlane, DialplanInfo,
    Health, LiveState, MonitorRequest, Reply, SoftphoneLink, TransferTarget,
};
use ivr_acd::{Acd, AcdConfig, AcdOutput, AgentId, CallId, EndedBy, Enqueue, OfferFailure};
use tokio::sync::watch;

/// A clock the test moves by hand.
pub struct ManualClock {
    at: Mutex<(Instant, jiff::Timestamp)>,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock { at: Mutex::new((Instant::now(), jiff::Timestamp::now())) }
    }
    pub fn advance(&self, by: Duration) {
        let mut at = self.at.lock().expect("clock lock");
        at.0 += by;
        at.1 += jiff::SignedDuration::try_from(by).expect("small duration");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.at.lock().expect("clock lock").0
    }
    fn wall(&self) -> jiff::Timestamp {
        self.at.lock().expect("clock lock").1
    }
}

/// What the engine recorded of commands with no visible ACD effect.
#[derive(Debug, Default)]
pub struct Recorded {
    pub wrap_ups: Vec<AgentCommand>,
    pub monitors: Vec<MonitorRequest>,
    pub softphones: Vec<(AgentId, SoftphoneLink)>,
    pub supervisor_softphones: Vec<(String, SoftphoneLink)>,
    /// Supervisors who asked to stop monitoring.
    pub monitors_stopped: Vec<String>,
}

struct World {
    acd: Acd,
    config: AcdConfig,
    calls: BTreeMap<CallId, CallContext>,
    in_ivr: u32,
    dialplan: DialplanInfo,
    recorded: Recorded,
    /// The call each agent last answered: the one their wrap-up is for (the
    /// engine keeps the same).
    last_calls: BTreeMap<AgentId, CallId>,
}

pub struct AcdPlane {
    world: Mutex<World>,
    live: watch::Sender<Arc<LiveState>>,
    clock: Arc<ManualClock>,
    /// A copy of `dialplans/` the test may break.
    pub dir: PathBuf,
    prompts: PathBuf,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dialplans") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

impl AcdPlane {
    /// The line's queues and agents, every agent logged out; the dialplan
    /// files copied to `dir`.
    pub fn new(clock: Arc<ManualClock>, dir: &Path) -> Arc<AcdPlane> {
        let dir = dir.join("dialplans");
        copy_dir(&repo().join("dialplans"), &dir);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("config file");
        let config = AcdConfig::parse("queues.toml", &read("queues.toml"), "agents.toml", &read("agents.toml"))
            .expect("the line's ACD files are valid");
        let now = clock.now();
        let world = World {
            acd: Acd::new(config.clone(), now),
            config,
            calls: BTreeMap::new(),
            in_ivr: 0,
            dialplan: DialplanInfo { path: "dialplans/012.toml".into(), version: "boot".into(), ..DialplanInfo::default() },
            recorded: Recorded::default(),
            last_calls: BTreeMap::new(),
        };
        let (live, _) = watch::channel(Arc::new(LiveState::new(now)));
        let plane = AcdPlane { world: Mutex::new(world), live, clock, dir, prompts: repo().join("prompts") };
        plane.publish(&mut plane.world());
        Arc::new(plane)
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("world lock")
    }

    pub fn recorded<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.world().recorded)
    }

    pub fn agent(&self, login: &str) -> AgentId {
        self.world().acd.agent_id(login).expect("known agent")
    }

    /// Drains the ACD (a real engine would ring phones here) and publishes.
    fn publish(&self, world: &mut World) {
        let now = self.clock.now();
        while let Some(output) = world.acd.poll_output() {
            match output {
                AcdOutput::Closed { call, .. } | AcdOutput::MaxWaitReached { call } | AcdOutput::CallbackFailed { call } => {
                    world.calls.remove(&call);
                }
                _ => {}
            }
        }
        let state = LiveState { taken_at: now, acd: world.acd.snapshot(now), calls: world.calls.clone(), in_ivr: world.in_ivr };
        self.live.send_replace(Arc::new(state));
    }

    /// A caller comes out of the IVR into `queue` with what they chose.
    pub fn caller_joins(&self, call: u64, queue: &str, language: &str, topic: &str, number: Option<&str>) {
        let mut world = self.world();
        let now = self.clock.now();
        let queue = world.acd.queue_id(queue).expect("known queue");
        let context = CallContext {
            queue: Some(queue),
            language: Some(language.into()),
            topic: Some(topic.into()),
            ivr_path: format!("welcome>choose-language>main>{topic}"),
            caller_number: number.map(Into::into),
            repeat_caller: call.is_multiple_of(2),
            ..CallContext::default()
        };
        world.calls.insert(CallId(call), context);
        let skills = vec![("language".into(), language.into()), ("topic".into(), topic.into())];
        world.acd.enqueue(now, Enqueue { skills, ..Enqueue::new(CallId(call), queue) }).expect("enqueue");
        self.publish(&mut world);
    }

    /// Runs the ACD's deadlines up to the clock's now (wrap-up ends...).
    pub fn tick(&self) {
        let mut world = self.world();
        world.acd.handle_timeout(self.clock.now());
        self.publish(&mut world);
    }

    pub fn set_in_ivr(&self, n: u32) {
        let mut world = self.world();
        world.in_ivr = n;
        self.publish(&mut world);
    }

    fn connected(world: &World, agent: AgentId, call: CallId) -> Result<(), ControlError> {
        match world.acd.agent_state(agent) {
            Some(ivr_acd::AgentState::OnCall { call: c }) if c == call => Ok(()),
            _ => Err(ControlError::NotYourCall(call)),
        }
    }

    fn command(&self, agent: AgentId, command: AgentCommand) -> Result<(), ControlError> {
        let mut world = self.world();
        let now = self.clock.now();
        let w = &mut *world;
        match command {
            AgentCommand::Login => w.acd.agent_login(now, agent)?,
            AgentCommand::Available => w.acd.set_available(now, agent)?,
            AgentCommand::Break { reason } => w.acd.set_break(now, agent, reason)?,
            AgentCommand::Logout => w.acd.agent_logout(now, agent)?,
            done @ AgentCommand::WrapUpDone { call, .. } => {
                if let Some(call) = call
                    && w.last_calls.get(&agent) != Some(&call)
                {
                    return Err(ControlError::NotYourCall(call));
                }
                w.acd.wrap_up_done(now, agent)?;
                w.recorded.wrap_ups.push(done);
            }
            AgentCommand::Answer { call } => {
                w.acd.offer_accepted(now, call, agent)?;
                w.last_calls.insert(agent, call);
            }
            AgentCommand::Reject { call } => w.acd.offer_failed(now, call, agent, OfferFailure::Declined)?,
            AgentCommand::Hangup { call } | AgentCommand::SendToSurvey { call } => {
                Self::connected(w, agent, call)?;
                w.acd.call_ended(now, call, EndedBy::Agent)?;
                w.calls.remove(&call);
            }
            AgentCommand::Hold { call, on } => {
                Self::connected(w, agent, call)?;
                w.calls.entry(call).or_default().on_hold = on;
            }
            AgentCommand::Mute { call, on } => {
                Self::connected(w, agent, call)?;
                w.calls.entry(call).or_default().muted = on;
            }
            AgentCommand::Transfer { call, to: TransferTarget::Queue(queue) } => {
                Self::connected(w, agent, call)?;
                w.acd.call_ended(now, call, EndedBy::Agent)?;
                let context = w.calls.entry(call).or_default();
                context.queue = Some(queue);
                let skills = [("language", &context.language), ("topic", &context.topic)]
                    .into_iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
                    .collect();
                // Transfers are served first.
                w.acd.enqueue(now, Enqueue { skills, priority: 10, ..Enqueue::new(call, queue) })?;
            }
            AgentCommand::Transfer { to: TransferTarget::Agent(_), .. } => {
                return Err(ControlError::NotSupported { what: "transfer a call to one agent" });
            }
        }
        self.publish(w);
        Ok(())
    }

    fn apply_acd(&self, files: AcdFiles, config: AcdConfig) -> Result<(), ControlError> {
        let mut world = self.world();
        let now = self.clock.now();
        // As the server's engine: all or nothing, then the files.
        let applied = world.acd.apply_config(now, &config);
        self.publish(&mut world);
        applied?;
        for (name, text) in [("queues.toml", &files.queues_toml), ("agents.toml", &files.agents_toml)] {
            let path = self.dir.join(name);
            std::fs::write(&path, text).map_err(|source| ControlError::Write { path, source })?;
        }
        world.config = config;
        self.publish(&mut world);
        Ok(())
    }
}

impl ControlPlane for AcdPlane {
    fn health(&self) -> Health {
        Health { accepting_calls: true, active_calls: self.world().calls.len() as u64, prompts_loaded: 0 }
    }
    fn render_metrics(&self) -> String {
        format!("ivr_acd_in_queue {}\n", self.world().acd.stats().in_queue)
    }
}

impl ConsoleControl for AcdPlane {
    fn live(&self) -> watch::Receiver<Arc<LiveState>> {
        self.live.subscribe()
    }

    fn agent_command(&self, agent: AgentId, command: AgentCommand) -> Reply<'_, ()> {
        Box::pin(async move { self.command(agent, command) })
    }

    fn monitor(&self, request: MonitorRequest) -> Reply<'_, ()> {
        Box::pin(async move {
            self.world().recorded.monitors.push(request);
            Ok(())
        })
    }

    fn dialplan(&self) -> DialplanInfo {
        self.world().dialplan.clone()
    }

    fn reload_dialplan(&self) -> Reply<'_, ()> {
        Box::pin(async move {
            let (path, prompts) = (self.dir.join("012.toml"), self.prompts.clone());
            let compiled = tokio::task::spawn_blocking(move || {
                let catalog = ivr_dialplan::prompts_catalog::PromptCatalog::from_dir(&prompts)
                    .map_err(|e| vec![e.to_string()])?;
                ivr_dialplan::compile::compile_file(&path, &catalog)
                    .map_err(|d| d.iter().map(ToString::to_string).collect::<Vec<_>>())
            })
            .await
            .map_err(|_| ControlError::ShuttingDown)?;
            let mut world = self.world();
            match compiled {
                Ok(output) => {
                    world.dialplan.version = output.program.version.clone();
                    world.dialplan.reloads += 1;
                    world.dialplan.last_refusal.clear();
                    Ok(())
                }
                Err(diagnostics) => {
                    world.dialplan.refusals += 1;
                    world.dialplan.last_refusal = diagnostics.clone();
                    Err(ControlError::DialplanRefused { diagnostics })
                }
            }
        })
    }

    fn acd_files(&self) -> Reply<'_, AcdFiles> {
        Box::pin(async move {
            let read = |name: &str| {
                let path = self.dir.join(name);
                std::fs::read_to_string(&path).map_err(|source| ControlError::Write { path, source })
            };
            Ok(AcdFiles {
                queues_file: "queues.toml".into(),
                queues_toml: read("queues.toml")?,
                agents_file: "agents.toml".into(),
                agents_toml: read("agents.toml")?,
            })
        })
    }

    fn apply_acd_files(&self, files: AcdFiles, config: AcdConfig) -> Reply<'_, ()> {
        Box::pin(async move { self.apply_acd(files, config) })
    }

    fn calendars(&self) -> Reply<'_, Vec<CalendarFile>> {
        Box::pin(async move {
            let dir = self.dir.join("calendars");
            let mut files = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(|source| ControlError::Write { path: dir.clone(), source })? {
                let path = entry.map_err(|source| ControlError::Write { path: dir.clone(), source })?.path();
                let toml = std::fs::read_to_string(&path).map_err(|source| ControlError::Write { path: path.clone(), source })?;
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                files.push(CalendarFile { name, toml });
            }
            Ok(files)
        })
    }

    fn apply_calendar(&self, file: CalendarFile) -> Reply<'_, ()> {
        Box::pin(async move {
            let path = self.dir.join("calendars").join(&file.name);
            if !path.exists() {
                return Err(ControlError::UnknownCalendar { name: file.name });
            }
            std::fs::write(&path, file.toml).map_err(|source| ControlError::Write { path, source })
        })
    }

    fn softphone(&self, agent: AgentId, link: SoftphoneLink) -> Reply<'_, ()> {
        Box::pin(async move {
            self.world().recorded.softphones.push((agent, link));
            Ok(())
        })
    }

    fn supervisor_softphone(&self, supervisor: String, link: SoftphoneLink) -> Reply<'_, ()> {
        Box::pin(async move {
            self.world().recorded.supervisor_softphones.push((supervisor, link));
            Ok(())
        })
    }

    fn stop_monitor(&self, supervisor: String) -> Reply<'_, ()> {
        Box::pin(async move {
            let mut world = self.world();
            if !world.recorded.monitors.iter().any(|m| m.supervisor == supervisor) {
                return Err(ControlError::MonitorRefused { reason: "the supervisor monitors no call" });
            }
            world.recorded.monitors_stopped.push(supervisor);
            Ok(())
        })
    }
}
