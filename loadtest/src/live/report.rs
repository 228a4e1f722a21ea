//! The JSON result of a live run and of a capacity ramp: what was offered
//! and failed, setup latency, RTP loss, jitter and send-time deviation at
//! both ends, DTMF, the audio checks, the queue as the callers lived it,
//! the operators (their console sign-ins and breaks, and any offer that
//! rang one on break), the records check, CPU of the generator and of the
//! server, and the per-second timeline.
//!
//! Owns the summarising only; every figure comes from the engine, the
//! shell or the records check.

use std::collections::BTreeMap;

use serde::Serialize;

use super::engine::{Engine, Failure};
use super::net::ShellFigures;
use super::prompts::MIN_SCORE;
use super::records::RecordsReport;
use super::stats::{Histogram, Percentiles, Second};
use super::Finished;

#[derive(Debug, Clone, Serialize)]
pub struct CallsSummary {
    pub offered: u64,
    pub answered: u64,
    /// Ended with no failure, no script problem and every prompt heard.
    pub completed: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    /// Longest a call was up, in seconds.
    pub longest_s: f64,
    /// Sum of call durations (call-seconds carried).
    pub call_seconds: f64,
    pub peak_concurrent: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RtpSummary {
    /// Packets on every leg, callers' and operators'.
    pub sent: u64,
    pub received: u64,
    /// On the callers' legs (server to caller): the audio they hear.
    pub expected: u64,
    pub lost: u64,
    pub loss_percent: f64,
    pub duplicates: u64,
    /// Operators' streams (server to operator).
    pub operator_lost: u64,
    /// Our send time minus each packet's slot.
    pub send_deviation_ms: Percentiles,
    /// |transit change| per received audio packet: the server's sending
    /// as heard on loopback.
    pub server_deviation_ms: Percentiles,
    /// RFC 3550 jitter at each stream's end.
    pub jitter_ms: Percentiles,
    pub sendmmsg_calls: u64,
    pub recvmmsg_calls: u64,
    pub send_errors: u64,
    pub ticks_skipped_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DtmfSummary {
    pub rfc4733_sent: u64,
    pub inband_sent: u64,
    /// Keys sent by SIP INFO, one `application/dtmf-relay` request each.
    pub sip_info_sent: u64,
    /// INFO keys that failed: an error status, no answer by Timer F
    /// (408), or not sendable (a problem of the run when not zero).
    pub sip_info_failed: u64,
    /// As the server's records count them (when the records were read).
    pub rfc4733_recognised: Option<i64>,
    pub inband_recognised: Option<i64>,
    pub sip_info_recognised: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AudioSummary {
    /// Answered calls whose prompts were correlated (`--audio-check-share`).
    pub calls_checked: u64,
    pub checks: u64,
    pub passed: u64,
    pub failed: u64,
    pub min_score: f64,
    /// The lowest scores: prompt and score.
    pub worst: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueSummary {
    pub queued: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub wait_s: Percentiles,
    /// Share of queued callers answered within 20 s.
    pub service_level_20s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperatorsSummary {
    pub configured: usize,
    pub registered: usize,
    pub calls_answered: u64,
    pub offers_missed: u64,
    /// With `--console-url`: the operators through the agent console.
    pub console: Option<ConsoleSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsoleSummary {
    /// Operators who signed in (and set `login` and `available`).
    pub signed_in: usize,
    /// Console requests that failed or were answered otherwise than asked
    /// (a problem of the run when not zero), and the first reasons.
    pub failures: u64,
    pub errors: Vec<String>,
    /// Breaks the console confirmed, and their time in seconds (from the
    /// confirmation to asking to be available again).
    pub breaks_taken: u64,
    pub break_seconds: f64,
    /// Offers that rang an operator the console had confirmed on break (a
    /// problem of the server when not zero).
    pub offers_on_break: u64,
}

fn console_summary(engine: &Engine) -> Option<ConsoleSummary> {
    if !engine.console_used() {
        return None;
    }
    let ops = &engine.operators;
    Some(ConsoleSummary {
        signed_in: ops.iter().filter(|o| o.console_signed_in).count(),
        failures: ops.iter().map(|o| o.console_failures).sum(),
        errors: ops.iter().flat_map(|o| o.console_errors.iter().map(|e| format!("{}: {e}", o.config.login))).take(10).collect(),
        breaks_taken: ops.iter().map(|o| o.breaks_taken).sum(),
        break_seconds: ops.iter().map(|o| o.break_time.as_secs_f64()).sum(),
        offers_on_break: ops.iter().map(|o| o.offers_on_break).sum(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct CpuSummary {
    pub generator_cpu_s: Option<f64>,
    /// Generator CPU per second of call carried, in ms: comparable across
    /// loads and with SIPp.
    pub generator_cpu_ms_per_call_second: Option<f64>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_ms_per_call_second: Option<f64>,
    pub server_rss_max_mb: Option<f64>,
    pub server_fds_max: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveReport {
    pub mode: String,
    pub elapsed_s: f64,
    pub calls: CallsSummary,
    pub setup_ms: Percentiles,
    pub rtp: RtpSummary,
    pub dtmf: DtmfSummary,
    pub audio: AudioSummary,
    pub queue: QueueSummary,
    pub operators: OperatorsSummary,
    pub records: Option<RecordsReport>,
    pub cpu: CpuSummary,
    pub timeline: Vec<Second>,
    /// True when nothing failed: no failed call, no lost or duplicated
    /// record, no loss, every prompt heard.
    pub ok: bool,
    pub problems: Vec<String>,
}

fn failure_name(f: &Failure) -> String {
    match f {
        Failure::Rejected(status) => format!("rejected_{status}"),
        Failure::SetupTimeout => "setup_timeout".into(),
        Failure::TransactionTimeout => "transaction_timeout".into(),
        Failure::UnusableAnswer => "unusable_answer".into(),
        Failure::NoAudio => "no_audio".into(),
    }
}

pub fn live_report(mode: &str, finished: &Finished, records: Option<RecordsReport>) -> LiveReport {
    let engine: &Engine = &finished.engine;
    let shell: &ShellFigures = &finished.shell;
    let f = &engine.figures;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut completed = 0;
    let mut failed = 0;
    let mut scores: Vec<(String, f64)> = Vec::new();
    let mut waits = Histogram::default();
    let (mut queued, mut q_answered, mut q_abandoned, mut within_20) = (0u64, 0u64, 0u64, 0u64);
    let (mut longest, mut call_seconds) = (0.0f64, 0.0f64);
    for c in &engine.calls {
        let mut bad = false;
        if let Some(failure) = &c.failure {
            *failures.entry(failure_name(failure)).or_default() += 1;
            bad = true;
        }
        for p in &c.caller.problems {
            *failures.entry(format!("{p:?}").split('(').next().unwrap_or("problem").to_ascii_lowercase()).or_default() += 1;
            bad = true;
        }
        for h in &c.caller.heard {
            scores.push((h.prompt.clone(), h.score));
            if h.score < MIN_SCORE {
                *failures.entry(format!("wrong_audio_{}", h.prompt)).or_default() += 1;
                bad = true;
            }
        }
        if bad {
            failed += 1;
        } else if c.ended_at.is_some() {
            completed += 1;
        }
        if let (Some(a), Some(e)) = (c.answered_at, c.ended_at) {
            let secs = e.saturating_duration_since(a).as_secs_f64();
            longest = longest.max(secs);
            call_seconds += secs;
        }
        if let Some(wait) = c.caller.queue_wait {
            queued += 1;
            waits.record(wait.as_micros() as u64);
            if c.caller.talked {
                q_answered += 1;
                if wait.as_secs_f64() <= 20.0 {
                    within_20 += 1;
                }
            } else {
                q_abandoned += 1;
            }
        }
    }
    scores.sort_by(|a, b| a.1.total_cmp(&b.1));
    let passed = scores.iter().filter(|(_, s)| *s >= MIN_SCORE).count() as u64;
    let worst = scores.iter().take(5).cloned().collect();
    let peak = finished.timeline.iter().map(|s| s.concurrent).max().unwrap_or(0);
    let per_call_second =
        |cpu: Option<std::time::Duration>| cpu.filter(|_| call_seconds > 0.0).map(|c| c.as_secs_f64() * 1000.0 / call_seconds);
    let mut problems = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} failed calls: {failures:?}"));
    }
    let (lost, expected) = (f.rtp_lost, f.rtp_expected);
    if lost > 0 {
        problems.push(format!("{lost} RTP packets lost of {expected}"));
    }
    if let Some(r) = &records
        && r.problems() > 0
    {
        problems.push(r.summary());
    }
    let pending = engine.checks_pending();
    if pending > 0 {
        problems.push(format!("{pending} audio checks never finished"));
    }
    let dtmf = DtmfSummary {
        rfc4733_sent: engine.calls.iter().map(|c| u64::from(c.keys_rfc4733)).sum(),
        inband_sent: engine.calls.iter().map(|c| u64::from(c.keys_inband)).sum(),
        sip_info_sent: engine.calls.iter().map(|c| u64::from(c.keys_sip_info)).sum(),
        sip_info_failed: engine.calls.iter().map(|c| u64::from(c.sip_info_failed)).sum(),
        rfc4733_recognised: None,
        inband_recognised: None,
        sip_info_recognised: None,
    };
    if dtmf.sip_info_failed > 0 {
        problems.push(format!("{} of {} SIP INFO keys failed", dtmf.sip_info_failed, dtmf.sip_info_sent));
    }
    let console = console_summary(engine);
    if let Some(c) = &console {
        if c.offers_on_break > 0 {
            problems.push(format!("{} offers rang an operator on break (the ACD must not offer to an agent on break)", c.offers_on_break));
        }
        if c.failures > 0 {
            problems.push(format!("{} console requests failed: {}", c.failures, c.errors.join("; ")));
        }
    }
    LiveReport {
        mode: mode.to_owned(),
        elapsed_s: finished.elapsed.as_secs_f64(),
        calls: CallsSummary {
            offered: f.offered,
            answered: f.answered,
            completed,
            failed,
            failures,
            longest_s: longest,
            call_seconds,
            peak_concurrent: peak,
        },
        setup_ms: f.setup.summary(),
        rtp: RtpSummary {
            sent: f.rtp_sent,
            received: f.rtp_received,
            expected,
            lost,
            loss_percent: if expected == 0 { 0.0 } else { lost as f64 * 100.0 / expected as f64 },
            duplicates: f.rtp_duplicates,
            operator_lost: f.operator_rtp_lost,
            send_deviation_ms: shell.send_deviation.summary(),
            server_deviation_ms: f.arrival_variation.summary(),
            jitter_ms: f.jitter.summary(),
            sendmmsg_calls: shell.sendmmsg_calls,
            recvmmsg_calls: shell.recvmmsg_calls,
            send_errors: shell.send_errors,
            ticks_skipped_ms: f.rtp_ticks_skipped,
        },
        dtmf,
        audio: AudioSummary {
            calls_checked: engine.calls.iter().filter(|c| c.caller.check_audio && c.answered_at.is_some()).count() as u64,
            checks: scores.len() as u64, passed, failed: scores.len() as u64 - passed, min_score: MIN_SCORE, worst },
        queue: QueueSummary {
            queued,
            answered: q_answered,
            abandoned: q_abandoned,
            wait_s: {
                let p = waits.summary();
                Percentiles { p50_ms: p.p50_ms / 1000.0, p95_ms: p.p95_ms / 1000.0, p99_ms: p.p99_ms / 1000.0, max_ms: p.max_ms / 1000.0, ..p }
            },
            service_level_20s: (q_answered + q_abandoned > 0).then(|| within_20 as f64 / (q_answered + q_abandoned) as f64),
        },
        operators: OperatorsSummary {
            configured: engine.operators.len(),
            registered: engine.operators_registered(),
            calls_answered: engine.operators.iter().map(|o| o.calls_answered).sum(),
            offers_missed: engine.operators.iter().map(|o| o.offers_missed).sum(),
            console,
        },
        records,
        cpu: CpuSummary {
            generator_cpu_s: finished.generator_cpu.map(|d| d.as_secs_f64()),
            generator_cpu_ms_per_call_second: per_call_second(finished.generator_cpu),
            server_cpu_s: finished.server_cpu.map(|d| d.as_secs_f64()),
            server_cpu_ms_per_call_second: per_call_second(finished.server_cpu),
            server_rss_max_mb: finished.server_rss_max_mb,
            server_fds_max: finished.server_fds_max,
        },
        timeline: finished.timeline.clone(),
        ok: problems.is_empty(),
        problems,
    }
}

/// Adds what the records say about keys to a report, and its verdict.
pub fn with_records(mut report: LiveReport, records: RecordsReport) -> LiveReport {
    report.dtmf.rfc4733_recognised = Some(records.digits_rfc4733);
    report.dtmf.inband_recognised = Some(records.digits_inband);
    report.dtmf.sip_info_recognised = Some(records.digits_sip_info);
    if records.problems() > 0 {
        report.problems.push(records.summary());
    }
    report.records = Some(records);
    report.ok = report.problems.is_empty();
    report
}

/// One level of the capacity ramp.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityStep {
    pub concurrency: usize,
    pub calls_started: u64,
    pub failed_setups: u64,
    pub lost: u64,
    pub expected: u64,
    pub send_deviation_p99_ms: f64,
    pub server_deviation_p99_ms: f64,
    pub setup_p99_ms: f64,
    pub generator_cpu_percent: f64,
    pub server_cpu_percent: Option<f64>,
    pub passed: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// The highest concurrency that passed.
    pub knee: Option<usize>,
    pub limited_by: Option<String>,
    pub steps: Vec<CapacityStep>,
}

/// Counters at the start of the current step.
#[derive(Debug, Default, Clone)]
pub struct StepBase {
    offered: u64,
    failed_setup: u64,
    lost: u64,
    expected: u64,
    setup: Histogram,
    seconds: usize,
}

/// Closes a step of the ramp: its figures since the last one, judged.
pub fn close_step(level: usize, engine: &mut Engine, shell: &mut ShellFigures, base: &mut StepBase, timeline: &[Second], max_dev: f64) -> CapacityStep {
    let (lost, expected) = engine.loss_so_far();
    let ours = shell.send_deviation_recent_step();
    let server = std::mem::take(&mut engine.figures.arrival_variation_recent);
    let f = &engine.figures;
    let mut setup = f.setup.clone();
    setup.subtract(&base.setup);
    let seconds = &timeline[base.seconds.min(timeline.len())..];
    let avg = |xs: Vec<f64>| if xs.is_empty() { 0.0 } else { xs.iter().sum::<f64>() / xs.len() as f64 };
    let server_cpu: Vec<f64> = seconds.iter().filter_map(|s| s.server_cpu_percent).collect();
    let mut step = CapacityStep {
        concurrency: level,
        calls_started: f.offered.saturating_sub(base.offered),
        failed_setups: f.failed_setup.saturating_sub(base.failed_setup),
        // A late packet can fill a gap counted as lost before: saturate.
        lost: lost.saturating_sub(base.lost),
        expected: expected.saturating_sub(base.expected),
        send_deviation_p99_ms: ours.percentile_ms(99.0),
        server_deviation_p99_ms: server.percentile_ms(99.0),
        setup_p99_ms: setup.percentile_ms(99.0),
        generator_cpu_percent: avg(seconds.iter().map(|s| s.generator_cpu_percent).collect()),
        server_cpu_percent: (!server_cpu.is_empty()).then(|| avg(server_cpu)),
        passed: true,
        reasons: Vec::new(),
    };
    if step.server_deviation_p99_ms > max_dev {
        step.reasons.push(format!("server send deviation p99 {:.2} ms > {max_dev} ms", step.server_deviation_p99_ms));
    }
    if step.send_deviation_p99_ms > max_dev {
        step.reasons.push(format!("generator send deviation p99 {:.2} ms > {max_dev} ms (the generator is the limit)", step.send_deviation_p99_ms));
    }
    if step.lost > 0 {
        step.reasons.push(format!("{} RTP packets lost", step.lost));
    }
    if step.failed_setups > 0 {
        step.reasons.push(format!("{} setups failed", step.failed_setups));
    }
    step.passed = step.reasons.is_empty();
    *base = StepBase { offered: f.offered, failed_setup: f.failed_setup, lost, expected, setup: f.setup.clone(), seconds: timeline.len() };
    step
}
