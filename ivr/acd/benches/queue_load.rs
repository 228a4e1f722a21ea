//! The ACD under load on a simulated clock: the time per input (command or
//! timeout) with hundreds of agents and up to thousands of waiting callers.
//! std::time only: `cargo bench -p ivr-acd --bench queue_load`.
//! Sizes: ACD_BENCH_CALLS (default 200000; the year is about
//! 2000000), ACD_BENCH_AGENTS (default 200), ACD_BENCH_STORM (callers
//! arriving within one minute in the storm run, default 5000).
//! Target (issue 4): a year of the line's calls in seconds, i.e. a few
//! microseconds per input.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::{Duration, Instant};

use ivr_acd::{Acd, AcdConfig, AcdOutput, AgentConfig, AgentId, CallId, CallbackNumber, EndedBy, Enqueue, OfferFailure, QueueId};

const LANGUAGES: [(&str, f64); 4] = [("ca", 0.6), ("es", 0.3), ("en", 0.05), ("oc", 0.05)];
const TOPICS: [&str; 6] = ["procedures", "health", "education", "work", "transport", "other"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    Answer(CallId, AgentId),
    Refuse(CallId, AgentId),
    Hangup(CallId),
    Abandon(CallId),
    AskCallback(CallId),
    CallbackOutcome(CallId, bool),
}

struct World {
    rng: fastrand::Rng,
    acd: Acd,
    now: Instant,
    events: BinaryHeap<Reverse<(Instant, u64, Ev)>>,
    seq: u64,
    next_call: u64,
    queued: HashSet<CallId>,
    ringing: HashSet<(CallId, AgentId)>,
    inputs: u64,
    max_queued: usize,
    patience_secs: f64,
}

impl World {
    fn at(&mut self, after: Duration, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((self.now + after, self.seq, ev)));
    }

    fn exp(&mut self, mean_secs: f64) -> Duration {
        Duration::from_secs_f64(-mean_secs * (1.0 - self.rng.f64()).ln())
    }

    fn drain(&mut self) {
        self.inputs += 1;
        while let Some(out) = self.acd.poll_output() {
            match out {
                AcdOutput::Offer { call, agent, .. } => {
                    self.ringing.insert((call, agent));
                    let roll = self.rng.f64();
                    let ring = Duration::from_secs_f64(2.0 + 6.0 * self.rng.f64());
                    if roll < 0.93 {
                        self.at(ring, Ev::Answer(call, agent));
                    } else if roll < 0.97 {
                        self.at(ring, Ev::Refuse(call, agent));
                    } // else: no answer, the ACD's offer timeout
                }
                AcdOutput::CancelOffer { call, agent, .. } => {
                    self.ringing.remove(&(call, agent));
                }
                AcdOutput::StartCallback { call, .. } => {
                    let answered = self.rng.f64() < 0.8;
                    self.at(Duration::from_secs(20), Ev::CallbackOutcome(call, answered));
                }
                AcdOutput::MaxWaitReached { call } | AcdOutput::CallbackFailed { call } => {
                    self.queued.remove(&call);
                }
                _ => {}
            }
        }
        self.max_queued = self.max_queued.max(self.queued.len());
    }

    fn handle(&mut self, ev: Ev, arrivals_left: &mut u64, gap_secs: f64) {
        let now = self.now;
        match ev {
            Ev::Arrival => {
                *arrivals_left -= 1;
                if *arrivals_left > 0 {
                    let gap = self.exp(gap_secs);
                    self.at(gap, Ev::Arrival);
                }
                let call = CallId(self.next_call);
                self.next_call += 1;
                let mut roll = self.rng.f64();
                let language = LANGUAGES.iter().find(|(_, p)| { roll -= p; roll < 0.0 }).map_or("ca", |(l, _)| l);
                let topic = TOPICS[self.rng.usize(..TOPICS.len())];
                let skills = vec![("language".to_string(), language.to_string()), ("topic".to_string(), topic.to_string())];
                if self.acd.enqueue(now, Enqueue { skills, priority: i32::from(self.rng.f64() < 0.05), ..Enqueue::new(call, QueueId(0)) }).is_ok() {
                    self.queued.insert(call);
                    let patience = self.exp(self.patience_secs);
                    self.at(patience, Ev::Abandon(call));
                    if self.rng.f64() < 0.05 {
                        self.at(Duration::from_secs(30), Ev::AskCallback(call));
                    }
                }
            }
            Ev::Answer(call, agent) => {
                if self.ringing.remove(&(call, agent)) && self.acd.offer_accepted(now, call, agent).is_ok() {
                    self.queued.remove(&call);
                    let talk = self.exp(180.0);
                    self.at(talk, Ev::Hangup(call));
                }
            }
            Ev::Refuse(call, agent) => {
                if self.ringing.remove(&(call, agent)) {
                    let _ = self.acd.offer_failed(now, call, agent, OfferFailure::Busy);
                }
            }
            Ev::Hangup(call) => {
                let _ = self.acd.call_ended(now, call, EndedBy::Caller);
            }
            Ev::Abandon(call) => {
                if self.queued.contains(&call) && self.acd.caller_abandoned(now, call).is_ok() {
                    self.queued.remove(&call);
                }
            }
            Ev::AskCallback(call) => {
                if self.queued.contains(&call) {
                    let _ = self.acd.request_callback(now, call, CallbackNumber::new("600000000"));
                }
            }
            Ev::CallbackOutcome(call, answered) => {
                if self.acd.callback_result(now, call, answered).is_ok() && answered {
                    self.queued.remove(&call);
                    let talk = self.exp(180.0);
                    self.at(talk, Ev::Hangup(call));
                }
            }
        }
        self.drain();
    }
}

fn config(agents: usize, rng: &mut fastrand::Rng) -> AcdConfig {
    let queues = include_str!("../../../dialplans/queues.toml");
    let mut config = AcdConfig::parse("queues.toml", queues, "agents.toml", "").expect("the 012 queues file is valid");
    config.agents = (0..agents)
        .map(|i| {
            let mut skills = vec![("language".to_string(), "ca".to_string(), 5 + rng.u8(..5))];
            for (language, p) in &LANGUAGES[1..] {
                if rng.f64() < p * 2.0 + 0.3 {
                    skills.push(("language".to_string(), language.to_string(), 3 + rng.u8(..7)));
                }
            }
            for topic in TOPICS {
                if rng.f64() < 0.6 {
                    skills.push(("topic".to_string(), topic.to_string(), 1 + rng.u8(..10)));
                }
            }
            AgentConfig {
                login: format!("agent{i}"),
                display_name: format!("Agent {i}"),
                sip_user: format!("agent{i}"),
                password: None,
                queues: vec![],
                skills,
            }
        })
        .collect();
    config
}

/// Runs `calls` arrivals with a mean gap of `gap_secs`; returns (inputs,
/// wall time, longest queue).
fn run(calls: u64, agents: usize, gap_secs: f64, patience_secs: f64) -> (u64, Duration, usize, ivr_acd::AcdStats) {
    let mut rng = fastrand::Rng::with_seed(7);
    let config = config(agents, &mut rng);
    let t0 = Instant::now();
    let mut w = World {
        rng,
        acd: Acd::new(config, t0),
        now: t0,
        events: BinaryHeap::new(),
        seq: 0,
        next_call: 1,
        queued: HashSet::new(),
        ringing: HashSet::new(),
        inputs: 0,
        max_queued: 0,
        patience_secs,
    };
    for a in 0..agents {
        w.acd.agent_login(t0, AgentId(a as u32)).expect("login");
        w.drain();
    }
    w.at(Duration::ZERO, Ev::Arrival);
    let mut arrivals_left = calls;
    let started = Instant::now();
    loop {
        let timer = w.acd.poll_timeout();
        let next = w.events.peek().map(|Reverse((at, _, _))| *at);
        match (timer, next) {
            (Some(t), n) if n.is_none_or(|n| t <= n) => {
                w.now = w.now.max(t);
                w.acd.handle_timeout(w.now);
                w.drain();
            }
            (_, Some(_)) => {
                let Some(Reverse((at, _, ev))) = w.events.pop() else { break };
                w.now = w.now.max(at);
                w.handle(ev, &mut arrivals_left, gap_secs);
            }
            (None, None) => break,
            (Some(_), None) => unreachable!("covered by the first arm"),
        }
    }
    let stats = w.acd.stats();
    (w.inputs, started.elapsed(), w.max_queued, stats)
}

fn report(name: &str, (inputs, wall, max_queued, stats): (u64, Duration, usize, ivr_acd::AcdStats)) {
    println!(
        "{name:<8} {inputs:>9} inputs in {:>7.2} s: {:>6.2} us per input; longest queue {max_queued}; {stats:?}",
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1e6 / inputs.max(1) as f64
    );
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let calls = env("ACD_BENCH_CALLS", 200_000);
    let agents = env("ACD_BENCH_AGENTS", 200) as usize;
    let storm = env("ACD_BENCH_STORM", 5000);
    // Steady: agents handle ~1/210 calls a second each; arrivals at ~90% of that.
    let gap = 210.0 / agents as f64 / 0.9;
    report("steady", run(calls, agents, gap, 240.0));
    // Storm: `storm` callers within a minute, patient ones, so thousands wait.
    report("storm", run(storm, agents, 60.0 / storm as f64, 3600.0));
}
