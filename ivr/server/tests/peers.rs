//! The `ivr` server against real SIP peers on loopback: SIPp (scripted
//! calls, RTP from pcaps, SIP INFO, TCP) and baresip (a full user agent that
//! records what it hears), with tcpdump capturing the server's RTP.
//!
//! Each test starts its own server on free ports with short prompts and a
//! temp config, so tests run in parallel. A missing peer binary skips its
//! tests with a loud message, unless `CI` is set: then it is a failure.
//! Debian packages: sip-tester baresip-core sipsak sox tcpdump (tcpdump
//! needs CAP_NET_RAW: run as root or `setcap cap_net_raw+ep`).
//! Set `IVR_PEERS_KEEP=1` to keep every test's folder (logs, captures,
//! recordings); a failing test always keeps its folder and prints its path.

#[path = "peers/support.rs"]
mod support;

#[path = "common/databases.rs"]
mod databases;

#[path = "peers/server.rs"]
mod server;

#[path = "peers/sipp.rs"]
mod sipp;

#[path = "peers/baresip.rs"]
mod baresip;

#[path = "peers/sipp_calls.rs"]
mod sipp_calls;

#[path = "peers/sip_edges.rs"]
mod sip_edges;

#[path = "peers/shutdown.rs"]
mod shutdown;

#[path = "peers/baresip_calls.rs"]
mod baresip_calls;

#[path = "peers/operators.rs"]
mod operators;

#[path = "peers/flow_012.rs"]
mod flow_012;

#[path = "peers/crash.rs"]
mod crash;

#[path = "peers/reload.rs"]
mod reload;

#[path = "peers/refer.rs"]
mod refer;

#[path = "peers/webdriver.rs"]
mod webdriver;

#[path = "peers/console_e2e.rs"]
mod console_e2e;

#[path = "peers/monitor.rs"]
mod monitor;

#[path = "peers/softphone.rs"]
mod softphone;
