//! A blind transfer from an operator's phone (RFC 5589 6.1, REFER per RFC
//! 3515): a baresip caller walks `dialplans/012.toml` to the operator
//! (Catalan, 1; operator, 6: topic `other`), the SIPp phone registered as
//! `jordi` answers, then REFERs the call to `sip:general@<server>`. The phone
//! must get 202 and the NOTIFYs (100 Trying, then 200 OK and the end of the
//! subscription) before its BYE (`operators_phone_refer.xml` fails
//! otherwise). The caller is queued again in `general`: once jordi's wrap-up
//! is over (queues.toml: 30 s) the same phone rings again, and refuses
//! (`operators_phone_busy.xml`). The caller's record shows the transfer and
//! the second offer in its timeline.
//!
//! The caller and the phone are those of `operators.rs`.

use std::time::{Duration, Instant};

use ivr_store::Disposition;

use crate::baresip;
use crate::operators::{SippPhone, call_the_operator, ring_within, stored_call};
use crate::server::{Server, ServerConfig, TestDialplan};
use crate::sipp::Sipp;
use crate::support::{self, TempDir};

/// queues.toml `wrap_up_secs` for `general`, and some slack for the offer.
const WRAP_UP_AND_OFFER: Duration = Duration::from_secs(30 + 15);

#[test]
fn an_operator_transfers_the_caller_to_a_queue_by_refer_and_the_caller_waits_again() {
    if !(support::peer_available("baresip", "baresip-core") && support::peer_available("sipp", "sip-tester")) {
        return;
    }
    let _turn = support::one_at_a_time();
    let server = Server::start(&ServerConfig { dialplan: TestDialplan::Line012 { staffed: true }, ..ServerConfig::default() });
    let refs = TempDir::new("refer-refs");
    let register = Sipp::new(server.sip, "operators_register.xml");
    register.run_ok(Duration::from_secs(15));
    let referring = SippPhone::run_on(&server, register.port, "operators_phone_refer.xml", |_| {});

    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", 440.0, 120_000));
    referring.wait_step("answered", ring_within());
    // 202, NOTIFY 100 and NOTIFY 200 (checked by the scenario), then its BYE.
    referring.wait_step("transferred", Duration::from_secs(5));
    referring.wait_step("hung-up", Duration::from_secs(5));
    let transferred = Instant::now();
    referring.finish(Duration::from_secs(5));

    // The caller waits again in `general`; the same phone rings once the
    // operator's wrap-up after the transfer is over.
    let busy = SippPhone::run_on(&server, register.port, "operators_phone_busy.xml", |_| {});
    busy.wait_step("invited-1", WRAP_UP_AND_OFFER);
    let offered_again = transferred.elapsed();
    assert!(offered_again >= Duration::from_secs(25), "offered again {offered_again:?} after the transfer: the operator's wrap-up is 30 s");
    busy.finish(Duration::from_secs(10));
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(5));
    caller.quit();

    let call = stored_call(&server, &call_id);
    let d = &call.details;
    assert_eq!(d.agent.as_deref(), Some("jordi"), "{d:?}");
    assert_eq!(d.queue.as_deref(), Some("general"));
    assert_eq!(d.disposition, Some(Disposition::Answered), "the operator answered before transferring: {d:?}");
    let details: Vec<&str> = call.events.iter().map(|e| e.detail.as_str()).collect();
    let transfer = details.iter().position(|d| d.contains("operator transferred the call to queue general"));
    let refused = details.iter().rposition(|d| d.contains("Busy"));
    assert!(
        matches!((transfer, refused), (Some(t), Some(r)) if t < r),
        "the timeline has the transfer, then the second offer refused busy: {details:?}"
    );
    server.stop(Duration::from_secs(5));
}
