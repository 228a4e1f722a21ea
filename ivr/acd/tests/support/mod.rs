//! A simulated clock around the ACD: time jumps from deadline to deadline,
//! every output is drained after every input, as the shell must.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ivr_acd::{Acd, AcdConfig, AcdOutput, AgentId, CallId, Enqueue, QueueEvent, QueueId};

pub struct Sim {
    pub acd: Acd,
    pub t0: Instant,
    pub now: Instant,
    /// Every log event so far.
    pub log: Vec<QueueEvent>,
    /// Every output so far except log lines.
    pub history: Vec<(Instant, AcdOutput)>,
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

impl Sim {
    pub fn new(queues: &str, agents: &str) -> Sim {
        let config = AcdConfig::parse("queues.toml", queues, "agents.toml", agents).expect("test config is valid");
        let t0 = Instant::now();
        Sim { acd: Acd::new(config, t0), t0, now: t0, log: Vec::new(), history: Vec::new() }
    }

    /// Outputs of the last input, log lines aside.
    pub fn drain(&mut self) -> Vec<AcdOutput> {
        let mut out = Vec::new();
        while let Some(o) = self.acd.poll_output() {
            match o {
                AcdOutput::Log(e) => self.log.push(e),
                o => {
                    self.history.push((self.now, o.clone()));
                    out.push(o);
                }
            }
        }
        out
    }

    /// Outputs that matter to a caller or an agent's phone (agent state
    /// reports aside).
    pub fn actions(&mut self) -> Vec<AcdOutput> {
        self.drain().into_iter().filter(|o| !matches!(o, AcdOutput::AgentStateChanged { .. })).collect()
    }

    /// Lets `d` pass, firing every deadline on its instant; returns the
    /// actions in that time.
    pub fn wait(&mut self, d: Duration) -> Vec<AcdOutput> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.acd.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.acd.handle_timeout(self.now);
            out.extend(self.actions());
        }
        self.now = end;
        out
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    pub fn agent(&self, login: &str) -> AgentId {
        self.acd.agent_id(login).expect("test agent exists")
    }

    pub fn queue(&self, name: &str) -> QueueId {
        self.acd.queue_id(name).expect("test queue exists")
    }

    pub fn login(&mut self, logins: &[&str]) {
        for l in logins {
            let a = self.agent(l);
            self.acd.agent_login(self.now, a).expect("login");
        }
        self.drain();
    }

    pub fn enqueue(&mut self, call: u64, skills: &[(&str, &str)], priority: i32) -> Vec<AcdOutput> {
        let q = self.queue("general");
        let skills = skills.iter().map(|(s, v)| (s.to_string(), v.to_string())).collect();
        self.acd.enqueue(self.now, Enqueue { skills, priority, ..Enqueue::new(CallId(call), q) }).expect("enqueue");
        self.actions()
    }

    pub fn accept(&mut self, call: u64, agent: &str) -> Vec<AcdOutput> {
        let a = self.agent(agent);
        self.acd.offer_accepted(self.now, CallId(call), a).expect("accept");
        self.actions()
    }

    pub fn hang_up(&mut self, call: u64) -> Vec<AcdOutput> {
        self.acd.call_ended(self.now, CallId(call), ivr_acd::EndedBy::Agent).expect("end");
        self.actions()
    }

    /// The log as a ladder, one line an event:
    /// `t=12.000 OFFER general call-3 marta`.
    pub fn ladder(&self) -> String {
        let mut s = String::new();
        for e in &self.log {
            let queue = e.queue.and_then(|q| self.acd.queue_name(q)).unwrap_or("-");
            let call = e.call.map_or("-".to_string(), |c| c.to_string());
            let agent = e.agent.and_then(|a| self.acd.agent_login_name(a)).unwrap_or("-");
            s.push_str(&format!("t={:.3} {} {queue} {call} {agent} {:?}\n", e.at_ms as f64 / 1000.0, e.kind.name(), e.kind));
        }
        s
    }

    pub fn log_names(&self) -> Vec<&'static str> {
        self.log.iter().map(|e| e.kind.name()).collect()
    }
}
