//! Call teardown: hanging up, stopping media, and writing the call's one
//! record once the media totals are in.
//!
//! Owns the end of a call's lifecycle. It must never write a record twice
//! or leave an RTP port pair allocated.

use std::sync::atomic::Ordering;
use std::time::Instant;

use ivr_sip::LegId;
use ivr_store::{CallRecord, FinishedCall};
use tracing::{info, warn};

use super::{EndReason, Engine};
use crate::media_loop::{MediaCommand, MediaTotals};
use crate::telemetry;

impl Engine {
    pub(super) fn write_record(&mut self, finished: FinishedCall) {
        let Some(records) = &self.records else { return };
        if let Err(finished) = records.try_send_finished(finished) {
            metrics::counter!(telemetry::CALL_RECORDS_DROPPED_TOTAL).increment(1);
            warn!(call = %finished.call_id(), "call record queue full: record dropped");
        }
    }

    /// Tells the record writer how far a call got, for recovery after a crash.
    pub(super) fn snapshot_call(&mut self, now: Instant, leg: LegId) {
        let Some(records) = &self.records else { return };
        let Some(call) = self.calls.get(&leg) else { return };
        let pseudonym = self.pseudonym_of(call.caller.as_deref());
        if records.call_started(call.snapshot(now, &self.clock, pseudonym)).is_err() {
            warn!(parent: &call.span, "record queue full: call-progress snapshot dropped");
        }
    }

    pub(super) fn pseudonym_of(&self, number: Option<&str>) -> Option<String> {
        Some(self.pseudonymizer.as_ref()?.pseudonym(number?))
    }

    /// We end the call: BYE, then the media goes when the UA reports the leg terminated.
    pub(super) fn end_call(&mut self, now: Instant, leg: LegId, reason: EndReason) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        if call.ending.is_some() {
            return;
        }
        call.ending = Some(reason);
        if let Some(d) = call.dialogue.as_mut() {
            d.interpreter.handle_input(now, self.clock.timestamp(now), ivr_dialplan::interpreter::Input::HungUp);
        }
        self.flow_deadlines.schedule(leg, None);
        info!(parent: &call.span, reason = reason.label(), "hanging up");
        self.ua.hangup(now, leg);
        // The caller hears nothing more; stop media now rather than after the BYE's 200.
        self.stop_media(leg);
    }

    pub(super) fn stop_media(&mut self, leg: LegId) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        if let Some((_rtp, _rtcp)) = call.awaiting_answer.take() {
            self.ports.release(call.rtp_port);
        } else if call.media_running {
            call.media_running = false;
            self.media.send(MediaCommand::Stop { id: call.media_id });
            self.closing_media.insert(call.media_id, (call.rtp_port, None));
        }
    }

    /// The SIP leg is over: release everything the call held.
    pub(super) fn forget(&mut self, now: Instant, leg: LegId, reason: EndReason) {
        self.stop_media(leg);
        // Out of the queue (an abandon) and away from any operator or transfer.
        self.queue_caller_gone(now, leg);
        if let Some(out) = self.calls.get(&leg).and_then(|c| c.bridged_to) {
            self.end_out_leg(now, out);
        }
        let ringing: Vec<LegId> = self.out_legs.iter().filter(|(_, o)| o.caller == leg).map(|(l, _)| *l).collect();
        for out in ringing {
            self.end_out_leg(now, out);
        }
        if let Some(d) = self.calls.get_mut(&leg).and_then(|c| c.dialogue.as_mut()) {
            d.interpreter.handle_input(now, self.clock.timestamp(now), ivr_dialplan::interpreter::Input::HungUp);
        }
        self.end_monitors_of_call(now, leg);
        let Some(mut call) = self.calls.remove(&leg) else { return };
        self.live_dirty = true;
        self.by_media.remove(&call.media_id);
        self.flow_deadlines.schedule(leg, None);
        let pseudonym = self.pseudonym_of(call.caller.as_deref());
        let retention = self.config.callback_retention.as_millis() as i64;
        let mut finished = call.finish(now, &self.clock, reason, pseudonym, retention);
        if let Some(wav) = call.message.take() {
            let path = format!("messages/{}.wav", finished.record.call_id);
            finished.details.message_recording = Some(path.clone());
            self.messages.push_back((path, wav));
        }
        if let Some(answered) = call.answered_at {
            metrics::histogram!(telemetry::CALL_DURATION_SECONDS).record(now.saturating_duration_since(answered).as_secs_f64());
        }
        metrics::counter!(telemetry::CALLS_ENDED_TOTAL, "reason" => reason.label()).increment(1);
        info!(parent: &call.span, reason = reason.label(), "call ended");
        self.status.active_calls.store(self.calls.len() as u64, Ordering::Relaxed);
        metrics::gauge!(telemetry::CALLS_ACTIVE).set(self.calls.len() as f64);
        // The record waits for the media totals when the media is still closing.
        match self.closing_media.get_mut(&call.media_id) {
            Some((_, pending)) => *pending = Some(Box::new(finished)),
            None => self.write_record(finished),
        }
    }

}

pub(super) fn add_media_totals(record: &mut CallRecord, totals: MediaTotals) {
    record.rtp_packets_sent = totals.packets_sent as i64;
    record.rtp_packets_received = totals.packets_received as i64;
    record.rtp_packets_lost = totals.packets_lost as i64;
}

