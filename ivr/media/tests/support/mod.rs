//! Shared by the scenario test binaries: the shell's run loop on a
//! simulated clock.

use std::time::Instant;

/// Drives a sans-IO core from `start` to `until` as the media loop would:
/// `service(now)` runs its timers, drains its outputs and returns its next
/// deadline; time jumps from deadline to deadline, then to `until`.
pub fn run_until(start: Instant, until: Instant, mut service: impl FnMut(Instant) -> Instant) {
    let mut now = start;
    loop {
        let next = service(now);
        assert!(next > now, "poll_timeout must move forward once drained");
        if next > until {
            break;
        }
        now = next;
    }
    service(until);
}
