//! Property tests: random sequences of commands and time jumps, checked
//! after every input against the invariants of the queue:
//! - a call rings one agent at a time (ring-all: several, and the first
//!   answer cancels every other ring);
//! - no offer or callback goes to an agent who is not available and idle
//!   (logged out, on break, ringing, talking, in wrap-up or resting);
//! - FIFO within a priority: when an agent is offered a call, no call ahead
//!   of it that the agent could take is left waiting;
//! - after every input no waiting call can be taken by a free agent;
//! - conservation: every call that arrives leaves exactly once (answered,
//!   abandoned, timed out, closed, callback failed) or is still queued;
//! - the reported agent states are the ACD's own;
//! - commands that do not fit are refused and change nothing;
//! - all of it while queues are edited and agents removed live (a busy
//!   agent's removal is refused and changes nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use ivr_acd::{
    Acd, AcdConfig, AcdOutput, AgentId, AgentState, AgentStatus, CallId, CallbackNumber, EndedBy, Enqueue, OfferFailure, QueueEventKind,
    QueueId,
};
use proptest::prelude::*;

const LANGUAGES: [&str; 4] = ["ca", "es", "en", "oc"];
const TOPICS: [&str; 3] = ["health", "work", ""];

fn config(strategy: &str) -> AcdConfig {
    config_with(strategy, GENERAL_EDITS[0])
}

/// The `general` queue's settings: as the ACD starts, then as edited live
/// (fewer requirements, no relax steps, no wrap-up, a short maximum wait;
/// or a fast relax step, short offers, frequent announcements). The
/// strategy is not edited: the ring-all check depends on it.
const GENERAL_EDITS: [&str; 3] = [
    r#"skills = ["language", "topic"]
min_level = { topic = 2 }
relax = [
  { after_secs = 30, skill = "language", when = ["ca", "oc"], accept = ["es"] },
  { after_secs = 50, skill = "topic", min_level = 1 },
  { after_secs = 90, skill = "topic", accept = ["*"] },
]
offer_timeout_secs = 15
max_no_answer = 2
no_answer_delay_secs = 3
wrap_up_secs = 10
announce_interval_secs = 20
max_wait_secs = 200
callback_retries = 1
callback_retry_delay_secs = 25"#,
    r#"skills = ["language"]
wrap_up_secs = 0
max_wait_secs = 40
announce_interval_secs = 0"#,
    r#"skills = ["language", "topic"]
relax = [{ after_secs = 5, skill = "topic", accept = ["*"] }]
offer_timeout_secs = 5
wrap_up_secs = 30
max_wait_secs = 500
announce_interval_secs = 7"#,
];

fn edited_general(strategy: &str, variant: u8) -> ivr_acd::QueueConfig {
    config_with(strategy, GENERAL_EDITS[usize::from(variant) % GENERAL_EDITS.len()]).queues.remove(0)
}

fn config_with(strategy: &str, general: &str) -> AcdConfig {
    let queues = format!(
        r#"
[queues.general]
strategy = "{strategy}"
{general}

[queues.second]
strategy = "{strategy}"
skills = ["language"]
wrap_up_secs = 0
no_answer_delay_secs = 0
max_wait_secs = 100
"#
    );
    let agents = r#"
[agents.a0]
name = "A0"
skills = { language = { ca = 5, es = 5 }, topic = { health = 3, work = 1 } }
[agents.a1]
name = "A1"
skills = { language = { es = 5 }, topic = { health = 1, work = 5 } }
[agents.a2]
name = "A2"
queues = ["second"]
skills = { language = { en = 5, ca = 2 } }
[agents.a3]
name = "A3"
skills = { language = { oc = 5, ca = 5, en = 3 }, topic = { work = 2 } }
[agents.a4]
name = "A4"
queues = ["general"]
skills = { language = { ca = 5 }, topic = { health = 5, work = 5 } }
"#;
    AcdConfig::parse("q", &queues, "a", agents).expect("test config is valid")
}

const AGENTS: u32 = 5;

#[derive(Debug, Clone)]
enum Cmd {
    Enqueue { second: bool, language: usize, topic: usize, priority: i32, max_wait: Option<u64> },
    Abandon(usize),
    Login(u32),
    Logout(u32),
    Available(u32),
    Break(u32),
    Accept(usize),
    Fail(usize, u8),
    End(usize, bool),
    WrapUpDone(u32),
    Callback(usize),
    CallbackResult(usize, bool),
    Reprioritise(usize, i32),
    SetClosed(bool),
    /// `update_queue` of `general` with one of three settings.
    EditQueue(u8),
    RemoveAgent(u32),
    Wait(u64),
    /// A command naming a call the ACD does not know.
    Unknown(u8),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        6 => (any::<bool>(), 0..LANGUAGES.len(), 0..TOPICS.len(), 0..3i32, proptest::option::of(10..300u64))
            .prop_map(|(second, language, topic, priority, max_wait)| Cmd::Enqueue { second, language, topic, priority, max_wait }),
        2 => any::<usize>().prop_map(Cmd::Abandon),
        3 => (0..AGENTS).prop_map(Cmd::Login),
        1 => (0..AGENTS).prop_map(Cmd::Logout),
        2 => (0..AGENTS).prop_map(Cmd::Available),
        1 => (0..AGENTS).prop_map(Cmd::Break),
        5 => any::<usize>().prop_map(Cmd::Accept),
        2 => (any::<usize>(), 0..4u8).prop_map(|(i, r)| Cmd::Fail(i, r)),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Cmd::End(i, b)),
        1 => (0..AGENTS).prop_map(Cmd::WrapUpDone),
        2 => any::<usize>().prop_map(Cmd::Callback),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Cmd::CallbackResult(i, b)),
        1 => (any::<usize>(), 0..4i32).prop_map(|(i, p)| Cmd::Reprioritise(i, p)),
        1 => any::<bool>().prop_map(Cmd::SetClosed),
        1 => any::<u8>().prop_map(Cmd::EditQueue),
        1 => (0..AGENTS).prop_map(Cmd::RemoveAgent),
        6 => (0..60u64).prop_map(Cmd::Wait),
        1 => (0..6u8).prop_map(Cmd::Unknown),
    ]
}

/// What the test knows of a queued call, from the queue log alone.
#[derive(Debug, Clone, Copy)]
struct Queued {
    priority: i32,
    seq: u64,
}

impl Queued {
    fn ahead_of(&self, other: &Queued) -> bool {
        (std::cmp::Reverse(self.priority), self.seq) < (std::cmp::Reverse(other.priority), other.seq)
    }
}

struct Harness {
    acd: Acd,
    now: Instant,
    ring_all: bool,
    next_call: u64,
    seq: u64,
    queued: BTreeMap<CallId, Queued>,
    left: BTreeSet<CallId>,
    offers: HashMap<CallId, BTreeSet<AgentId>>,
    callbacks: BTreeMap<CallId, AgentId>,
    callback_requested: BTreeSet<CallId>,
    connected: BTreeSet<CallId>,
    status: HashMap<AgentId, AgentStatus>,
    state: HashMap<AgentId, AgentState>,
    arrived: u64,
    outcomes: u64,
    strategy: String,
    removed: BTreeSet<AgentId>,
}

impl Harness {
    fn new(strategy: &str) -> Harness {
        let now = Instant::now();
        let status = (0..AGENTS).map(|a| (AgentId(a), AgentStatus::LoggedOut)).collect();
        let state = (0..AGENTS).map(|a| (AgentId(a), AgentState::Idle)).collect();
        Harness {
            acd: Acd::new(config(strategy), now),
            strategy: strategy.to_owned(),
            removed: BTreeSet::new(),
            now,
            ring_all: strategy == "ring_all",
            next_call: 1,
            seq: 0,
            queued: BTreeMap::new(),
            left: BTreeSet::new(),
            offers: HashMap::new(),
            callbacks: BTreeMap::new(),
            callback_requested: BTreeSet::new(),
            connected: BTreeSet::new(),
            status,
            state,
            arrived: 0,
            outcomes: 0,
        }
    }

    fn pick<T: Copy>(items: impl Iterator<Item = T>, i: usize) -> Option<T> {
        let v: Vec<T> = items.collect();
        if v.is_empty() { None } else { Some(v[i % v.len()]) }
    }

    fn run(&mut self, cmd: Cmd) -> Result<(), TestCaseError> {
        let now = self.now;
        let q = |second: bool| QueueId(u32::from(second));
        match cmd {
            Cmd::Enqueue { second, language, topic, priority, max_wait } => {
                let call = CallId(self.next_call);
                self.next_call += 1;
                let skills = vec![("language".to_string(), LANGUAGES[language].to_string()), ("topic".to_string(), TOPICS[topic].to_string())];
                self.acd.enqueue(now, Enqueue { call, queue: q(second), skills, priority, max_wait: max_wait.map(Duration::from_secs) }).map_err(fail)?;
            }
            Cmd::Abandon(i) => {
                if let Some(call) = Self::pick(self.queued.keys().copied(), i) {
                    self.acd.caller_abandoned(now, call).map_err(fail)?;
                }
            }
            Cmd::Login(a) if self.removed.contains(&AgentId(a)) => {
                prop_assert_eq!(self.acd.agent_login(now, AgentId(a)), Err(ivr_acd::AcdError::UnknownAgent(AgentId(a))));
                prop_assert!(self.acd.poll_output().is_none(), "a refused command had an effect");
            }
            Cmd::Login(a) => self.acd.agent_login(now, AgentId(a)).map_err(fail)?,
            Cmd::Logout(a) => self.acd.agent_logout(now, AgentId(a)).map_err(fail)?,
            Cmd::Available(a) => {
                let r = self.acd.set_available(now, AgentId(a));
                prop_assert_eq!(r.is_err(), self.status[&AgentId(a)] == AgentStatus::LoggedOut);
            }
            Cmd::Break(a) => {
                let r = self.acd.set_break(now, AgentId(a), "test".into());
                prop_assert_eq!(r.is_err(), self.status[&AgentId(a)] == AgentStatus::LoggedOut);
            }
            Cmd::Accept(i) => {
                let offers = self.offers.iter().flat_map(|(c, agents)| agents.iter().map(|a| (*c, *a))).collect::<BTreeSet<_>>();
                if let Some((call, agent)) = Self::pick(offers.into_iter(), i) {
                    self.acd.offer_accepted(now, call, agent).map_err(fail)?;
                    self.offers.get_mut(&call).map(|s| s.remove(&agent));
                    self.connected.insert(call);
                }
            }
            Cmd::Fail(i, r) => {
                let reason = [OfferFailure::NoAnswer, OfferFailure::Busy, OfferFailure::Declined, OfferFailure::Unreachable][r as usize % 4];
                let offers = self.offers.iter().flat_map(|(c, agents)| agents.iter().map(|a| (*c, *a)));
                let all = offers.chain(self.callbacks.iter().map(|(c, a)| (*c, *a))).collect::<BTreeSet<_>>();
                if let Some((call, agent)) = Self::pick(all.into_iter(), i) {
                    self.acd.offer_failed(now, call, agent, reason).map_err(fail)?;
                    self.offers.get_mut(&call).map(|s| s.remove(&agent));
                    self.callbacks.remove(&call);
                }
            }
            Cmd::End(i, by_agent) => {
                if let Some(call) = Self::pick(self.connected.iter().copied(), i) {
                    let by = if by_agent { EndedBy::Agent } else { EndedBy::Caller };
                    self.acd.call_ended(now, call, by).map_err(fail)?;
                    self.connected.remove(&call);
                }
            }
            Cmd::WrapUpDone(a) => self.acd.wrap_up_done(now, AgentId(a)).map_err(fail)?,
            Cmd::Callback(i) => {
                let candidates = self.queued.keys().copied().filter(|c| !self.callback_requested.contains(c) && !self.callbacks.contains_key(c));
                if let Some(call) = Self::pick(candidates, i) {
                    let ringing = self.offers.get(&call).is_some_and(|agents| !agents.is_empty());
                    match self.acd.request_callback(now, call, CallbackNumber::new("600000000")) {
                        Ok(()) => {
                            prop_assert!(!ringing, "callback taken while {call} rang");
                            self.callback_requested.insert(call);
                        }
                        Err(ivr_acd::AcdError::OfferRinging(c)) => prop_assert!(ringing && c == call, "{call} refused, not ringing"),
                        Err(e) => return Err(fail(e)),
                    }
                }
            }
            Cmd::CallbackResult(i, answered) => {
                if let Some((call, _)) = Self::pick(self.callbacks.iter().map(|(c, a)| (*c, *a)), i) {
                    self.acd.callback_result(now, call, answered).map_err(fail)?;
                    self.callbacks.remove(&call);
                    if answered {
                        self.connected.insert(call);
                    }
                }
            }
            Cmd::Reprioritise(i, p) => {
                if let Some(call) = Self::pick(self.queued.keys().copied(), i) {
                    self.acd.reprioritise(now, call, p).map_err(fail)?;
                }
            }
            Cmd::SetClosed(closed) => self.acd.set_closed(now, QueueId(0), closed).map_err(fail)?,
            Cmd::EditQueue(variant) => self.acd.update_queue(now, edited_general(&self.strategy, variant)).map_err(fail)?,
            Cmd::RemoveAgent(a) => {
                let agent = AgentId(a);
                let busy = matches!(self.state[&agent], AgentState::Offered { .. } | AgentState::Reserved { .. } | AgentState::OnCall { .. });
                let r = self.acd.remove_agent(now, agent);
                if self.removed.contains(&agent) {
                    prop_assert_eq!(r, Err(ivr_acd::AcdError::UnknownAgent(agent)));
                    prop_assert!(self.acd.poll_output().is_none(), "a refused command had an effect");
                } else if busy {
                    prop_assert!(matches!(r, Err(ivr_acd::AcdError::AgentBusy { .. })), "{:?}", r);
                    prop_assert!(self.acd.poll_output().is_none(), "a refused command had an effect");
                } else {
                    r.map_err(fail)?;
                    self.removed.insert(agent);
                }
            }
            Cmd::Wait(secs) => {
                let end = now + Duration::from_secs(secs);
                while let Some(at) = self.acd.poll_timeout() {
                    if at > end {
                        break;
                    }
                    prop_assert!(at >= self.now, "a deadline in the past");
                    self.now = at;
                    self.acd.handle_timeout(at);
                    self.drain()?;
                }
                self.now = end;
                self.acd.handle_timeout(end);
            }
            Cmd::Unknown(op) => {
                let ghost = CallId(1_000_000);
                let r = match op {
                    0 => self.acd.caller_abandoned(now, ghost),
                    1 => self.acd.offer_accepted(now, ghost, AgentId(0)),
                    2 => self.acd.call_ended(now, ghost, EndedBy::Agent),
                    3 => self.acd.callback_result(now, ghost, true),
                    4 => self.acd.agent_login(now, AgentId(99)),
                    _ => self.acd.enqueue(now, Enqueue::new(ghost, QueueId(9))),
                };
                prop_assert!(r.is_err());
                prop_assert!(self.acd.poll_output().is_none(), "a refused command had an effect");
            }
        }
        self.drain()
    }

    /// Applies the outputs of one input to the model, checking each.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        let mut offered_now = Vec::new();
        while let Some(out) = self.acd.poll_output() {
            match out {
                AcdOutput::AgentStateChanged { agent, status, state } => {
                    let before = self.state[&agent];
                    if before != state && matches!(state, AgentState::Offered { .. } | AgentState::Reserved { .. }) {
                        prop_assert_eq!(before, AgentState::Idle, "offer to an agent who is not idle");
                        prop_assert_eq!(&self.status[&agent], &AgentStatus::Available, "offer to an agent not available");
                        prop_assert_eq!(&status, &AgentStatus::Available);
                    }
                    self.status.insert(agent, status);
                    self.state.insert(agent, state);
                }
                AcdOutput::Offer { call, agent, .. } => {
                    let rings = self.offers.entry(call).or_default();
                    if !self.ring_all {
                        prop_assert!(rings.is_empty(), "{call} offered to {agent} while ringing {rings:?}");
                    }
                    prop_assert!(!self.connected.contains(&call));
                    rings.insert(agent);
                    offered_now.push((call, agent));
                }
                AcdOutput::StartCallback { call, agent, .. } => {
                    prop_assert!(self.callback_requested.contains(&call));
                    prop_assert!(self.callbacks.insert(call, agent).is_none());
                    offered_now.push((call, agent));
                }
                AcdOutput::CancelOffer { call, agent, .. } => {
                    let had = self.offers.get_mut(&call).is_some_and(|s| s.remove(&agent)) || self.callbacks.remove(&call).is_some();
                    prop_assert!(had, "cancel of an offer never made: {call} {agent}");
                }
                AcdOutput::Log(e) => self.apply_log(e.call, &e.kind)?,
                AcdOutput::Announce { call, position, .. } => {
                    prop_assert!(self.queued.contains_key(&call) && position >= 1);
                }
                AcdOutput::MaxWaitReached { call } | AcdOutput::CallbackFailed { call } => {
                    prop_assert!(self.left.contains(&call));
                }
                AcdOutput::Closed { call, .. } => prop_assert!(self.left.contains(&call)),
            }
        }
        for (call, agent) in offered_now {
            self.check_fifo(call, agent)?;
        }
        self.check_state()
    }

    fn apply_log(&mut self, call: Option<CallId>, kind: &QueueEventKind) -> Result<(), TestCaseError> {
        let Some(call) = call else { return Ok(()) };
        match kind {
            QueueEventKind::EnterQueue { priority } => {
                self.arrived += 1;
                self.queued.insert(call, Queued { priority: *priority, seq: self.seq });
                self.seq += 1;
            }
            QueueEventKind::Reprioritised { priority } => {
                let q = self.queued.get_mut(&call).ok_or_else(|| TestCaseError::fail("reprioritised a call not queued"))?;
                q.priority = *priority;
            }
            QueueEventKind::Closed { .. } => {
                self.arrived += 1;
                self.leave(call)?;
            }
            QueueEventKind::Connect { .. }
            | QueueEventKind::Abandon { .. }
            | QueueEventKind::ExitWithTimeout { .. }
            | QueueEventKind::CallbackFailed { .. } => {
                prop_assert!(self.queued.remove(&call).is_some(), "{call} left a queue it was not in");
                self.leave(call)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn leave(&mut self, call: CallId) -> Result<(), TestCaseError> {
        prop_assert!(self.left.insert(call), "{call} left twice");
        self.outcomes += 1;
        self.offers.remove(&call);
        Ok(())
    }

    /// No call ahead of `call` that `agent` could take is left waiting.
    fn check_fifo(&self, call: CallId, agent: AgentId) -> Result<(), TestCaseError> {
        let Some(me) = self.queued.get(&call) else { return Ok(()) };
        for (other, q) in &self.queued {
            if q.ahead_of(me) && self.acd.can_serve(agent, *other) {
                return Err(TestCaseError::fail(format!("{agent} got {call} while {other} ahead of it ({q:?} vs {me:?}) was waiting")));
            }
        }
        Ok(())
    }

    fn check_state(&self) -> Result<(), TestCaseError> {
        let stats = self.acd.stats();
        prop_assert_eq!(
            stats.arrived,
            stats.answered + stats.abandoned + stats.timed_out + stats.closed + stats.callback_failed + stats.in_queue,
            "conservation: {:?}",
            stats
        );
        prop_assert_eq!(stats.arrived, self.arrived);
        prop_assert_eq!(stats.in_queue, self.queued.len() as u64);
        prop_assert_eq!(self.arrived, self.outcomes + self.queued.len() as u64);
        let mut free = Vec::new();
        for a in 0..AGENTS {
            let agent = AgentId(a);
            prop_assert_eq!(self.acd.agent_status(agent), Some(&self.status[&agent]), "reported status of {}", agent);
            prop_assert_eq!(self.acd.agent_state(agent), Some(self.state[&agent]), "reported state of {}", agent);
            if self.status[&agent] == AgentStatus::Available && self.state[&agent] == AgentState::Idle {
                free.push(agent);
            }
        }
        for agent in free {
            for call in self.queued.keys() {
                prop_assert!(!self.acd.can_serve(agent, *call), "free {} could take waiting {}", agent, call);
            }
        }
        for (call, rings) in &self.offers {
            prop_assert!(self.ring_all || rings.len() <= 1);
            for agent in rings {
                prop_assert_eq!(self.state[agent], AgentState::Offered { call: *call });
            }
        }
        Ok(())
    }
}

fn fail(e: ivr_acd::AcdError) -> TestCaseError {
    TestCaseError::fail(format!("a command that fits was refused: {e}"))
}

fn run_all(strategy: &str, cmds: Vec<Cmd>) -> Result<(), TestCaseError> {
    let mut h = Harness::new(strategy);
    for cmd in cmds {
        h.run(cmd)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn longest_idle_keeps_every_invariant(cmds in proptest::collection::vec(cmd(), 1..150)) {
        run_all("longest_idle", cmds)?;
    }

    #[test]
    fn least_talk_time_keeps_every_invariant(cmds in proptest::collection::vec(cmd(), 1..150)) {
        run_all("least_talk_time", cmds)?;
    }

    #[test]
    fn round_robin_keeps_every_invariant(cmds in proptest::collection::vec(cmd(), 1..150)) {
        run_all("round_robin", cmds)?;
    }

    #[test]
    fn ring_all_keeps_every_invariant(cmds in proptest::collection::vec(cmd(), 1..150)) {
        run_all("ring_all", cmds)?;
    }
}



proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// No file content reaches a panic: the line's own files with random
    /// edits parse or fail with a position inside the file.
    #[test]
    fn config_files_with_random_edits_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), "[ -~\n]{0,4}"), 1..4),
        agents_file in any::<bool>(),
    ) {
        let queues = include_str!("../../../dialplans/queues.toml");
        let agents = include_str!("../../../dialplans/agents.toml");
        let mut text = String::from(if agents_file { agents } else { queues });
        for (at, cut, insert) in edits {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) { at -= 1; }
            let mut end = (at + cut % 8).min(text.len());
            while !text.is_char_boundary(end) { end -= 1; }
            text.replace_range(at..end.max(at), &insert);
        }
        let result = if agents_file {
            AcdConfig::parse("q", queues, "a", &text)
        } else {
            AcdConfig::parse("q", &text, "a", agents)
        };
        if let Err(e) = result {
            let lines = text.lines().count().max(1) as u32 + 1;
            prop_assert!(e.position.line >= 1 && e.position.line <= lines, "{e}");
        }
    }
}
