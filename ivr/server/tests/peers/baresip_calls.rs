//! Calls from baresip, a full user agent: it hears the prompts (recorded
//! by its `sndfile` module), sends DTMF both as tones in its audio and as
//! RFC 4733 events, and sees the server hang up.

use std::time::Duration;

use crate::baresip::{self, Baresip};
use crate::server::{Server, ServerConfig};
use crate::support::{self, TempDir};

const DIGITS: &str = "ivr_dtmf_digits_total";

#[test]
fn baresip_hears_the_welcome_and_its_tones_and_rfc4733_digits_are_counted() {
    if !support::peer_available("baresip", "baresip-core") || !support::peer_available("sox", "sox") {
        return;
    }
    let server = Server::start(&ServerConfig { idle_hangup_secs: 10, ..ServerConfig::default() });
    let refs = TempDir::new("refs");
    let welcome = support::reference(&refs, "welcome");
    // Tones 4 and 7 start after the welcome prompt has played out.
    let microphone = baresip::microphone(&refs, 3_500, "47", 30_000);
    let mut phone = Baresip::start(&microphone, "pcmu,pcma");
    let inband_before = server.metric(DIGITS, &[("method", "inband")]);
    let events_before = server.metric(DIGITS, &[("method", "rfc4733")]);

    phone.dial(server.sip);
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    server.wait_metric(DIGITS, &[("method", "inband")], inband_before + 2.0, Duration::from_secs(10));
    for (i, key) in ["2", "9"].iter().enumerate() {
        phone.command("sndcode", key);
        server.wait_metric(DIGITS, &[("method", "rfc4733")], events_before + i as f64 + 1.0, Duration::from_secs(5));
    }
    phone.command("hangup", "");
    phone.wait_event("CALL_CLOSED", Duration::from_secs(5));
    support::wait_for("the server to see the call end", Duration::from_secs(5), || {
        (server.metric("ivr_calls_active", &[]) == 0.0).then_some(())
    });

    assert_eq!(server.metric(DIGITS, &[("method", "inband")]) - inband_before, 2.0, "tones 4 and 7, each once");
    assert_eq!(server.metric(DIGITS, &[("method", "rfc4733")]) - events_before, 2.0, "events 2 and 9, each once");
    phone.quit();
    support::assert_contains(&phone.heard(), &welcome, "welcome", 0.8);
    server.stop(Duration::from_secs(5));
}

#[test]
fn baresip_is_hung_up_on_after_the_goodbye_when_it_stays_silent() {
    if !support::peer_available("baresip", "baresip-core") || !support::peer_available("sox", "sox") {
        return;
    }
    let server = Server::start(&ServerConfig { idle_hangup_secs: 2, ..ServerConfig::default() });
    let refs = TempDir::new("refs");
    let goodbye = support::reference(&refs, "goodbye");
    let microphone = baresip::microphone(&refs, 0, "", 30_000);
    let mut phone = Baresip::start(&microphone, "pcma,pcmu");

    phone.dial(server.sip);
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    // welcome (2.5 s) + idle (2 s) + goodbye (1.5 s) + slack.
    phone.wait_event("CALL_CLOSED", Duration::from_secs(15));

    phone.quit();
    // The BYE cuts the recording's last packets (baresip's jitter buffer):
    // look for the first second of the goodbye.
    support::assert_contains(&phone.heard(), &goodbye[..8_000], "goodbye", 0.8);
    assert_eq!(server.metric("ivr_calls_active", &[]), 0.0);
    server.stop(Duration::from_secs(5));
}
