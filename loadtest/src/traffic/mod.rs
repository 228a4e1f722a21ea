//! The 012 line's traffic model: when calls arrive ([`profile`]), what each
//! caller wants and does ([`journey`]), and the distributions both draw
//! from ([`dist`]).
//!
//! Owns the model only, shared by the simulated year (`crate::sim`) and the
//! live SIP/RTP generator. Must never do IO, read the clock or use an
//! unseeded generator: the same seed gives the same year everywhere.

pub mod dist;
pub mod journey;
pub mod profile;

pub use dist::DurationDist;
pub use journey::{ContactChoice, DtmfMethod, Intent, Journey, JourneyMix, JourneyState, Keys, Language, Reply, Topic};
pub use profile::{Arrivals, BusyHour, Campaign, ProfileError, Slot, TrafficProfile};
