//! # ivr: the 012 IVR server
//!
//! The shell around the sans-IO cores (`ivr-sip`, `ivr-media`): it owns the
//! sockets, the clock, threads and tasks, configuration, prompt files,
//! logging and metrics, and graceful shutdown.
//!
//! Layout:
//! - [`config`]: the TOML file and command-line overrides;
//! - [`prompts`]: WAV files read once, resampled to 8 kHz, encoded once;
//! - [`dialplan_host`], [`check`]: the dialplan in force, its hot reload, `ivr check`;
//! - [`engine`]: SIP call events to media and flow actions (no IO);
//! - [`media_loop`]: the RTP thread that paces every call on its 20 ms grid;
//! - [`sip_tcp`], [`server`]: sockets, tasks, signals;
//! - [`telemetry`]: tracing and Prometheus metric names.
//!
//! It must never put protocol logic in the shell: decisions live in the
//! cores, the engine and the flow, all driven with an explicit `now`.

pub mod admin;
pub mod check;
pub mod config;
pub mod console_control;
pub mod deadlines;
pub mod dialplan_host;
pub mod engine;
pub mod media_loop;
pub mod prompts;
pub mod rtp_ports;
pub mod server;
pub mod sip_tcp;
pub mod telemetry;
pub mod wiring;
pub mod wrap_up_writer;
