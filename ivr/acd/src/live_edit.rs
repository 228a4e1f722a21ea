//! Editing queues and agents while the ACD runs (the admin console):
//! adding, changing and removing queues, changing which queues an agent
//! serves, removing agents, and applying a whole new configuration at once.
//!
//! Owns the rules of a live edit: callers keep their place, ringing offers
//! and wrap-ups in progress finish under the settings they started with,
//! and nothing is removed from under a caller or a call. Ids are never
//! reused: a removed queue or agent stays as a tombstone, so the ids the
//! engine holds stay meaningful. Must never panic, and a refused edit
//! changes nothing.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::config::{AcdConfig, QueueConfig};
use crate::engine::{Acd, AcdError, CallPhase, Queue, TimerKey, check_levels, intern_relax_values, later};
use crate::event::{AgentState, AgentStatus, QueueEventKind};
use crate::ids::{AgentId, QueueId};
use crate::skills;

impl Acd {
    /// The live queues named (empty: every live queue), in id order.
    pub(crate) fn queues_named(&self, names: &[String]) -> Vec<QueueId> {
        (0..self.queues.len())
            .map(|i| QueueId(i as u32))
            .filter(|q| {
                let queue = &self.queues[q.index()];
                !queue.removed && (names.is_empty() || names.contains(&queue.config.name))
            })
            .collect()
    }

    /// A new queue. Agents whose configuration serves every queue do not
    /// join it by themselves: say who serves it with
    /// [`Acd::set_agent_queues`] (as [`Acd::apply_config`] does).
    pub fn add_queue(&mut self, now: Instant, config: QueueConfig) -> Result<QueueId, AcdError> {
        self.advance(now);
        if self.queue_id(&config.name).is_some() {
            return Err(AcdError::DuplicateQueue(config.name));
        }
        intern_relax_values(&mut self.skill_table, &config);
        let id = QueueId(u32::try_from(self.queues.len()).expect("fewer than 2^32 queues"));
        self.queues.push(Queue::new(config));
        Ok(id)
    }

    /// New settings for the queue of the same name (strategy, required
    /// skills and levels, relax steps, offer timeout, wrap-up, maximum
    /// wait, announcements, callbacks...). Callers keep their place and
    /// their arrival time; their requirements are worked out again at
    /// their relax stage (a step already due under the new steps applies
    /// at once); a shorter maximum wait counts from their arrival (a caller
    /// past it leaves now, `EXITWITHTIMEOUT`), a longer one does not extend
    /// a wait already fixed. An offer ringing keeps its timeout and an
    /// agent in wrap-up keeps theirs: the new values apply to the next
    /// offer and the next call. Routing is then worked out again.
    pub fn update_queue(&mut self, now: Instant, config: QueueConfig) -> Result<(), AcdError> {
        self.advance(now);
        let queue = self.queue_id(&config.name).ok_or_else(|| AcdError::UnknownQueueName(config.name.clone()))?;
        intern_relax_values(&mut self.skill_table, &config);
        let calls: Vec<_> = self.queues[queue.index()].waiting.values().copied().collect();
        self.queues[queue.index()].config = config;
        let config = &self.queues[queue.index()].config;
        for call in &calls {
            let Some(c) = self.calls.get_mut(call) else { continue };
            c.stage = c.stage.min(config.relax.len());
            c.reqs = skills::requirements(config, &self.skill_table, &c.skills, c.stage);
            c.next_relax = config.relax.get(c.stage).and_then(|s| later(c.entered, s.after));
            if let Some(new_end) = later(c.entered, config.max_wait) {
                c.max_wait_at = c.max_wait_at.map(|at| at.min(new_end));
            }
            c.next_announce = match config.announce_interval {
                None => None,
                Some(_) if c.callback.is_some() => None,
                Some(interval) => c.next_announce.or_else(|| later(now, interval)),
            };
            if matches!(c.phase, CallPhase::Waiting) {
                self.dirty_calls.insert(c.key);
            }
        }
        for call in calls {
            self.fire_call(now, call);
            self.arm(TimerKey::Call(call));
        }
        self.dispatch(now);
        Ok(())
    }

    /// Removes a queue no caller holds a place in (refused otherwise: they
    /// are served, time out or leave first). Its agents stop serving it;
    /// new callers for it are `UnknownQueue`.
    pub fn remove_queue(&mut self, now: Instant, queue: QueueId) -> Result<(), AcdError> {
        self.advance(now);
        let q = self.queues.get(queue.index()).filter(|q| !q.removed).ok_or(AcdError::UnknownQueue(queue))?;
        if !q.waiting.is_empty() {
            return Err(AcdError::QueueHasCallers { queue: q.config.name.clone(), callers: q.waiting.len() });
        }
        let q = &mut self.queues[queue.index()];
        q.removed = true;
        for agent in std::mem::take(&mut q.members) {
            self.agents[agent.index()].queues.retain(|x| *x != queue);
        }
        Ok(())
    }

    /// The queues `agent` serves, by name (empty: every queue there is
    /// now). A free agent may be offered a waiting call of a new queue at
    /// once; a call ringing them from a queue they leave keeps ringing.
    pub fn set_agent_queues(&mut self, now: Instant, agent: AgentId, names: &[String]) -> Result<(), AcdError> {
        self.advance(now);
        if self.agents.get(agent.index()).is_none_or(|a| a.removed) {
            return Err(AcdError::UnknownAgent(agent));
        }
        if let Some(name) = names.iter().find(|n| self.queue_id(n).is_none()) {
            return Err(AcdError::UnknownQueueName(name.clone()));
        }
        let queues = self.queues_named(names);
        for q in &mut self.queues {
            q.members.retain(|a| *a != agent);
        }
        for q in &queues {
            self.queues[q.index()].members.push(agent);
        }
        self.agents[agent.index()].queues = queues;
        if self.free.contains(&agent) {
            self.dirty_agents.insert(agent);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Removes an agent. Refused while their phone rings with a call, they
    /// are reserved for a callback or on a call (`AgentBusy`: try again
    /// when it has ended; a wrap-up does not hold it up). Otherwise a
    /// wrap-up or rest ends, the agent is logged out (`AGENTLOGOFF`), leaves
    /// every queue, and their login may be given to a new agent.
    pub fn remove_agent(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agents.get(agent.index()).filter(|a| !a.removed).ok_or(AcdError::UnknownAgent(agent))?;
        match a.state {
            AgentState::Offered { call } | AgentState::Reserved { call } | AgentState::OnCall { call } => {
                return Err(AcdError::AgentBusy { login: a.login.clone(), call });
            }
            AgentState::WrapUp { .. } => self.end_wrap_up(now, agent, true),
            AgentState::Resting { .. } => self.set_state(now, agent, AgentState::Idle),
            AgentState::Idle => {}
        }
        if self.agents[agent.index()].status != AgentStatus::LoggedOut {
            self.log(now, None, None, Some(agent), QueueEventKind::AgentLogoff);
            self.set_status(now, agent, AgentStatus::LoggedOut);
        }
        for q in &mut self.queues {
            q.members.retain(|a| *a != agent);
            if q.rr_last == Some(agent) {
                q.rr_last = None;
            }
        }
        let a = &mut self.agents[agent.index()];
        a.removed = true;
        a.queues.clear();
        let login = a.login.clone();
        if self.agent_by_login.get(&login) == Some(&agent) {
            self.agent_by_login.remove(&login);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Makes the running ACD match `config` (the admin console's new
    /// files), all or nothing: every removal is checked first (a queue with
    /// callers, a busy agent: the first refusal is returned and nothing
    /// changes). Then agents that went are removed, queues that went are
    /// removed, new queues are added, the others updated
    /// ([`Acd::update_queue`]), new agents are added (logged out), and
    /// every agent gets the file's skills and queues. An agent's display
    /// name and SIP user are kept as they were (the registrar reads them at
    /// start-up).
    pub fn apply_config(&mut self, now: Instant, config: &AcdConfig) -> Result<(), AcdError> {
        self.advance(now);
        let queue_names: BTreeSet<&str> = config.queues.iter().map(|q| q.name.as_str()).collect();
        let agent_logins: BTreeSet<&str> = config.agents.iter().map(|a| a.login.as_str()).collect();
        let gone_queues: Vec<QueueId> = self
            .queues_named(&[])
            .into_iter()
            .filter(|q| !queue_names.contains(self.queues[q.index()].config.name.as_str()))
            .collect();
        let gone_agents: Vec<AgentId> = (0..self.agents.len())
            .map(|i| AgentId(i as u32))
            .filter(|a| {
                let agent = &self.agents[a.index()];
                !agent.removed && !agent_logins.contains(agent.login.as_str())
            })
            .collect();
        for q in &gone_queues {
            let queue = &self.queues[q.index()];
            if !queue.waiting.is_empty() {
                return Err(AcdError::QueueHasCallers { queue: queue.config.name.clone(), callers: queue.waiting.len() });
            }
        }
        for a in &gone_agents {
            let agent = &self.agents[a.index()];
            if let AgentState::Offered { call } | AgentState::Reserved { call } | AgentState::OnCall { call } = agent.state {
                return Err(AcdError::AgentBusy { login: agent.login.clone(), call });
            }
        }
        for agent in &config.agents {
            check_levels(&agent.skills)?;
        }
        // Checked: none of what follows can be refused. Agents go first, so
        // that the routing each step runs never offers them a call.
        for agent in gone_agents {
            self.remove_agent(now, agent)?;
        }
        for queue in gone_queues {
            self.remove_queue(now, queue)?;
        }
        for queue in &config.queues {
            match self.queue_id(&queue.name) {
                Some(_) => self.update_queue(now, queue.clone())?,
                None => {
                    self.add_queue(now, queue.clone())?;
                }
            }
        }
        for agent in &config.agents {
            let id = match self.agent_id(&agent.login) {
                Some(id) => id,
                None => self.add_agent(now, agent)?,
            };
            self.set_agent_skills(now, id, &agent.skills)?;
            self.set_agent_queues(now, id, &agent.queues)?;
        }
        Ok(())
    }
}
