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
//! The helpers repeat, in short, those of `operators.rs` (private there).

use std::path::Path;
use std::time::{Duration, Instant};

use ivr_store::{Disposition, FinishedCall, Store};

use crate::baresip::{self, Baresip};
use crate::server::{Server, ServerConfig, TestDialplan};
use crate::sipp::{RunningSipp, Sipp};
use crate::support::{self, TempDir};

const DIGITS: &str = "ivr_dtmf_digits_total";
/// queues.toml `wrap_up_secs` for `general`, and some slack for the offer.
const WRAP_UP_AND_OFFER: Duration = Duration::from_secs(30 + 15);

fn prompt_secs(name: &str) -> f64 {
    let (samples, rate) = loadtest::audio::read_wav(&support::repo_root().join(format!("prompts/ca/{name}.wav")))
        .unwrap_or_else(|e| panic!("read prompts/ca/{name}.wav: {e}"));
    samples.len() as f64 / f64::from(rate)
}

/// Presses `key` (RFC 4733) and waits until the server has counted it.
fn press(caller: &mut Baresip, server: &Server, key: &str) {
    let before = server.metric(DIGITS, &[("method", "rfc4733")]);
    caller.command("sndcode", key);
    server.wait_metric(DIGITS, &[("method", "rfc4733")], before + 1.0, Duration::from_secs(5));
}

/// The id of the one call the server took (its `call{id=..}` span).
fn record_id(server: &Server) -> String {
    let log = server.dir.join("server.log");
    support::wait_for("the server to log the call", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.split("call{id=").nth(1).and_then(|rest| rest.split([' ', '}']).next()).map(str::to_owned)
    })
}

fn stored_call(server: &Server, call_id: &str) -> FinishedCall {
    let url = format!("sqlite://{}", server.dir.join("ivr.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let store = Store::connect(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(call) = store.finished_call(call_id).await.expect("read the record").filter(|c| !c.details.provisional) {
                return call;
            }
            assert!(Instant::now() < deadline, "no record of call {call_id} within 10 s\n{}", server.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// A SIPp UAS `scenario` on the port the phone registered from.
fn phone(server: &Server, port: u16, scenario: &str) -> (Sipp, RunningSipp) {
    let mut sipp = Sipp::new(server.sip, scenario);
    sipp.port = port;
    let running = sipp.spawn();
    (sipp, running)
}

fn wait_step(sipp: &Sipp, step: &str, timeout: Duration) {
    let path = sipp.dir.join(step);
    support::wait_for(&format!("the SIPp phone to reach `{step}`"), timeout, || path.exists().then_some(()));
}

#[test]
fn an_operator_transfers_the_caller_to_a_queue_by_refer_and_the_caller_waits_again() {
    if !(support::peer_available("baresip", "baresip-core") && support::peer_available("sipp", "sip-tester")) {
        return;
    }
    let server = Server::start(&ServerConfig { dialplan: TestDialplan::Line012 { staffed: true }, ..ServerConfig::default() });
    let refs = TempDir::new("refer-refs");
    let register = Sipp::new(server.sip, "operators_register.xml");
    register.run_ok(Duration::from_secs(15));
    let (referring, mut running) = phone(&server, register.port, "operators_phone_refer.xml");

    let microphone: &Path = &baresip::tone(&refs, "caller.wav", 440.0, 120_000);
    let mut caller = Baresip::start(microphone, "pcmu,pcma");
    caller.dial(server.sip);
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let call_id = record_id(&server);
    std::thread::sleep(Duration::from_secs_f64(prompt_secs("welcome") + 0.7));
    press(&mut caller, &server, "1");
    std::thread::sleep(Duration::from_millis(700));
    press(&mut caller, &server, "6");

    let ring_within = Duration::from_secs_f64(prompt_secs("to-operator") + 10.0);
    wait_step(&referring, "answered", ring_within);
    // 202, NOTIFY 100 and NOTIFY 200 (checked by the scenario), then its BYE.
    wait_step(&referring, "transferred", Duration::from_secs(5));
    wait_step(&referring, "hung-up", Duration::from_secs(5));
    let transferred = Instant::now();
    running.wait_ok(Duration::from_secs(5));

    // The caller waits again in `general`; the same phone rings once the
    // operator's wrap-up after the transfer is over.
    let (busy, mut running) = phone(&server, register.port, "operators_phone_busy.xml");
    wait_step(&busy, "invited-1", WRAP_UP_AND_OFFER);
    let offered_again = transferred.elapsed();
    assert!(offered_again >= Duration::from_secs(25), "offered again {offered_again:?} after the transfer: the operator's wrap-up is 30 s");
    running.wait_ok(Duration::from_secs(10));
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
