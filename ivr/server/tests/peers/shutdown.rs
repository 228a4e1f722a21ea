//! Graceful shutdown seen from the callers: after SIGTERM new calls are
//! refused with 503, calls in progress get BYE by the grace deadline, and
//! the process exits 0.

use std::time::{Duration, Instant};

use crate::server::{Server, ServerConfig};
use crate::sipp::Sipp;
use crate::support;

#[test]
fn sigterm_refuses_new_calls_with_503_and_ends_active_calls_by_the_grace_deadline() {
    if !support::sipp_and_sox() {
        return;
    }
    let grace = 3;
    // Idle hang-up far away: only shutdown can end the active call in time.
    let mut server = Server::start(&ServerConfig { idle_hangup_secs: 60, grace_secs: grace, ..ServerConfig::default() });
    let active = Sipp::new(server.sip, "uac_await_bye.xml");
    let mut active_run = active.spawn();
    server.wait_metric("ivr_calls_active", &[], 1.0, Duration::from_secs(10));

    server.sigterm();
    let signalled = Instant::now();
    Sipp::new(server.sip, "uac_expect_503.xml").run_ok(Duration::from_secs(10));

    active_run.wait_ok(Duration::from_secs(grace + 10));
    let bye_after = signalled.elapsed();
    assert!(bye_after <= Duration::from_secs(grace + 3), "the active call got BYE {bye_after:?} after SIGTERM (grace {grace} s)");
    let status = server.wait_exit(Duration::from_secs(grace + 10));
    assert!(status.success(), "the server exited with {status} after a graceful shutdown\n{}", server.log_tail());
}
