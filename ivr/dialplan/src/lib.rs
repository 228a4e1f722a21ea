//! Dialplans for the 012 IVR.
//!
//! A dialplan file (TOML) is compiled into a checked [`program::Program`]
//! (every problem reported with file, line and column), and each call runs
//! it in a sans-IO [`interpreter`]: events and `now` (plus the wallclock for
//! calendars) in, actions out, next deadline exposed.
//!
//! Must never do IO beyond reading the files it is asked to compile, never
//! read the clock, and never panic on any file content.

pub mod calendar;
pub mod compile;
pub mod diagnostics;
pub mod interpreter;
pub mod program;
pub mod prompts_catalog;
pub mod say;
pub mod survey;
