//! A golden ladder: one seeded call on a lossy network, printed and compared with a checked-in
//! transcript. `UPDATE_GOLDEN=1 cargo test -p ivr-sip golden` rewrites it after a reviewed change
//! (the REFER ladder is in `refer.rs`: `UPDATE_GOLDEN=1 cargo test -p ivr-sip refer`).

use std::time::Duration;

use ivr_sip::Transport;

use super::net::{NetConfig, OFFER, World};

#[test]
fn golden_ladder_call_with_loss_and_caller_hangup() {
    let mut net = NetConfig::lossy(0.25);
    net.duplicate = 0.1;
    let mut w = World::new(2026, net, Transport::Udp).answering_ivr();
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(6));
    let now = w.now;
    w.uac.hangup(now, leg);
    w.run_until_idle();
    w.assert_clean();
    assert_golden("call_with_loss.txt", &w.ladder);
}

/// Compares a ladder with `tests/golden/<file>`; `UPDATE_GOLDEN=1` rewrites the file instead.
pub fn assert_golden(file: &str, ladder: &[String]) {
    let mut text = ladder.join("\n");
    text.push('\n');
    let path = format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).expect("write golden file");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(text, expected, "{file} changed; review and rerun with UPDATE_GOLDEN=1");
}
