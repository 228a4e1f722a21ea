//! Small `Copy` ids for calls, agents and queues.
//!
//! Owns: the id types only. `CallId` is given by the engine; `AgentId` and
//! `QueueId` are indexes into the ACD's tables, fixed when the configuration
//! is loaded (their order is the order of the config files' tables).

use std::fmt;

/// A call, as the engine numbers it. The ACD never invents one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// An agent: an index into the ACD's agent table. The agent's login name is
/// `Acd::agent_login_name(id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u32);

/// A queue: an index into the ACD's queue table. Its name is
/// `Acd::queue_name(id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u32);

impl AgentId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

impl QueueId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent-{}", self.0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue-{}", self.0)
    }
}
