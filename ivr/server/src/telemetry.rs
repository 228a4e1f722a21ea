//! Logging and metrics set-up, and the names of every metric the server
//! exports (Prometheus, at `/metrics`).
//!
//! Owns the global tracing subscriber and metrics recorder. Metric names live
//! here so that dashboards, tests and docs/metrics agree on one spelling.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const CALLS_TOTAL: &str = "ivr_calls_total";
pub const CALLS_ACTIVE: &str = "ivr_calls_active";
pub const CALLS_REJECTED_TOTAL: &str = "ivr_calls_rejected_total";
pub const CALL_SETUP_SECONDS: &str = "ivr_call_setup_seconds";
pub const CALL_DURATION_SECONDS: &str = "ivr_call_duration_seconds";
pub const CALLS_ENDED_TOTAL: &str = "ivr_calls_ended_total";
pub const SIP_MESSAGES_RECEIVED_TOTAL: &str = "ivr_sip_messages_received_total";
pub const SIP_MESSAGES_SENT_TOTAL: &str = "ivr_sip_messages_sent_total";
pub const RTP_PACKETS_SENT_TOTAL: &str = "ivr_rtp_packets_sent_total";
pub const RTP_PACKETS_RECEIVED_TOTAL: &str = "ivr_rtp_packets_received_total";
pub const RTP_SEND_ERRORS_TOTAL: &str = "ivr_rtp_send_errors_total";
pub const RTP_LATE_SENDS_TOTAL: &str = "ivr_rtp_late_sends_total";
pub const RTP_SEND_LATENESS_SECONDS: &str = "ivr_rtp_send_lateness_seconds";
pub const RTP_PACKETS_LOST_TOTAL: &str = "ivr_rtp_packets_lost_total";
pub const DTMF_DIGITS_TOTAL: &str = "ivr_dtmf_digits_total";
pub const CALL_RECORDS_DROPPED_TOTAL: &str = "ivr_call_records_dropped_total";
pub const DIALPLAN_RELOADS_TOTAL: &str = "ivr_dialplan_reloads_total";
pub const DIALPLAN_ERRORS_TOTAL: &str = "ivr_dialplan_errors_total";

/// A send later than this after its 20 ms grid slot counts as late.
pub const LATE_SEND_THRESHOLD: std::time::Duration = std::time::Duration::from_millis(2);

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Installs the Prometheus recorder. Histograms get explicit buckets, or the
/// exporter would render them as summaries.
pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(CALL_SETUP_SECONDS.to_owned()),
            &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(RTP_SEND_LATENESS_SECONDS.to_owned()),
            &[0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05],
        )?
        .set_buckets_for_metric(
            Matcher::Full(CALL_DURATION_SECONDS.to_owned()),
            &[5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0],
        )?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(CALLS_TOTAL, "Calls offered to the server (INVITEs that created a call)");
    describe_gauge!(CALLS_ACTIVE, "Calls in progress");
    describe_counter!(CALLS_REJECTED_TOTAL, "Calls refused, by SIP status");
    describe_counter!(CALLS_ENDED_TOTAL, "Calls ended, by reason");
    describe_histogram!(CALL_SETUP_SECONDS, Unit::Seconds, "INVITE received to 200 OK sent");
    describe_histogram!(CALL_DURATION_SECONDS, Unit::Seconds, "Answer to end of call");
    describe_counter!(SIP_MESSAGES_RECEIVED_TOTAL, "SIP datagrams and stream messages received");
    describe_counter!(SIP_MESSAGES_SENT_TOTAL, "SIP messages sent");
    describe_counter!(RTP_PACKETS_SENT_TOTAL, "RTP packets sent");
    describe_counter!(RTP_PACKETS_RECEIVED_TOTAL, "RTP packets received");
    describe_counter!(RTP_SEND_ERRORS_TOTAL, "RTP/RTCP sends the kernel refused (e.g. ICMP port unreachable)");
    describe_counter!(RTP_LATE_SENDS_TOTAL, "RTP packets sent more than 2 ms after their 20 ms grid slot");
    describe_histogram!(RTP_SEND_LATENESS_SECONDS, Unit::Seconds, "RTP send time minus its grid slot");
    describe_counter!(RTP_PACKETS_LOST_TOTAL, "RTP packets from callers that never arrived (RFC 3550 A.3), at call end");
    describe_counter!(CALL_RECORDS_DROPPED_TOTAL, "Call records dropped because the writer queue was full");
    describe_counter!(DIALPLAN_RELOADS_TOTAL, "Dialplan reloads, by result (installed, refused)");
    describe_counter!(DIALPLAN_ERRORS_TOTAL, "Calls ended by a dialplan run-time error (step budget, return without sub)");
    describe_counter!(DTMF_DIGITS_TOTAL, "DTMF digits recognised, by method (rfc4733, sip_info, inband)");
}
