//! The operator queue (ACD) of the 012 line, as a sans-IO state machine.
//!
//! Owns: queues, agents (their manual status and their system state),
//! skills-based routing, offers and their timeouts, wrap-up, position and
//! wait announcements, maximum wait, closing, queued callbacks, priorities,
//! and the queue log from which every report is recomputed. Must never do
//! IO, read the clock, spawn, or know SIP: the engine turns `Offer` into an
//! INVITE to the agent's phone and reports back with `offer_accepted`,
//! `offer_failed`, `call_ended`.
//!
//! Run-loop contract: feed an input ([`Acd::enqueue`], [`Acd::agent_login`],
//! [`Acd::offer_accepted`], ..., or [`Acd::handle_timeout`]) with `now`;
//! drain [`Acd::poll_output`] until `None`; then sleep until
//! [`Acd::poll_timeout`] or the next input. A late `handle_timeout` fires
//! every missed deadline at its own instant, in order.
//!
//! Invariants (see `tests/properties.rs`): no call is offered to two agents
//! at once except by ring-all, where the first answer cancels the rest; no
//! offer or callback goes to an agent who is logged out, on break, busy or
//! in wrap-up; within a priority, an agent is offered the earliest call they
//! can take; every call that arrives leaves exactly once (answered,
//! abandoned, timed out, closed, or its callback failed) or is still queued.
//!
//! Policy (which agent: [`Strategy`]) is apart from the mechanism (offers,
//! timers, states): `strategy.rs` sees only already-eligible candidates.

mod config;
mod dispatch;
mod engine;
mod event;
mod ids;
mod live_edit;
mod skills;
mod snapshot;
mod strategy;

pub use config::{Accept, AcdConfig, AgentConfig, ConfigError, ConfigErrorKind, Position, QueueConfig, RelaxStep, SecretRef, Strategy};
pub use engine::{Acd, AcdError, AcdStats, Enqueue};
pub use event::{
    AcdOutput, AgentState, AgentStatus, BreakReason, CallbackNumber, CancelReason, ClosedReason, EndedBy, OfferFailure,
    QueueEvent, QueueEventKind,
};
pub use ids::{AgentId, CallId, QueueId};
pub use snapshot::{AcdSnapshot, AgentSnapshot, QueueSnapshot, WaitingCallSnapshot};
