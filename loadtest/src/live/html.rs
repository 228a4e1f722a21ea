//! The HTML report of a live run: the headline figures and one inline SVG
//! line chart per series of the per-second timeline (concurrency, queue,
//! setup latency, send deviation, jitter, CPU). One self-contained file, no
//! script, no external asset.
//!
//! Owns presentation only; every number comes from the [`LiveReport`].

use std::fmt::Write;

use super::report::LiveReport;
use super::stats::Second;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One line chart of `values` over the run's seconds.
fn chart(title: &str, unit: &str, values: &[f64]) -> String {
    let max = values.iter().copied().fold(0.0f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let n = values.len().max(2) as f64 - 1.0;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * WIDTH / n, HEIGHT - (v / top) * HEIGHT))
        .collect();
    format!(
        "<figure><figcaption>{} (max {:.2} {})</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#f8f8f8\"/>\
         <polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" points=\"{}\"/></svg></figure>\n",
        escape(title),
        max,
        escape(unit),
        escape(title),
        points.join(" ")
    )
}

pub fn html(report: &LiveReport) -> String {
    let series = |f: fn(&Second) -> f64| -> Vec<f64> { report.timeline.iter().map(f).collect() };
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>loadtest report</title>\
         <style>body{font:14px sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}figure{margin:1em 0}</style>\n",
    );
    let _ = write!(
        out,
        "<h1>loadtest {} &mdash; {}</h1>\n<table>\
         <tr><th>calls offered / answered / failed</th><td>{} / {} / {}</td></tr>\
         <tr><th>peak concurrent</th><td>{}</td></tr>\
         <tr><th>setup p50 / p95 / p99 ms</th><td>{:.1} / {:.1} / {:.1}</td></tr>\
         <tr><th>RTP lost (callers' legs)</th><td>{} of {} ({:.3} %)</td></tr>\
         <tr><th>send deviation p99 ms (generator / server as heard)</th><td>{:.2} / {:.2}</td></tr>\
         <tr><th>jitter p99 ms</th><td>{:.2}</td></tr>\
         <tr><th>prompts checked / passed</th><td>{} / {}</td></tr>\
         <tr><th>queue: answered / abandoned, within 20 s</th><td>{} / {}, {}</td></tr>\
         <tr><th>records</th><td>{}</td></tr></table>\n",
        escape(&report.mode),
        if report.ok { "passed" } else { "FAILED" },
        report.calls.offered,
        report.calls.answered,
        report.calls.failed,
        report.calls.peak_concurrent,
        report.setup_ms.p50_ms,
        report.setup_ms.p95_ms,
        report.setup_ms.p99_ms,
        report.rtp.lost,
        report.rtp.expected,
        report.rtp.loss_percent,
        report.rtp.send_deviation_ms.p99_ms,
        report.rtp.server_deviation_ms.p99_ms,
        report.rtp.jitter_ms.p99_ms,
        report.audio.checks,
        report.audio.passed,
        report.queue.answered,
        report.queue.abandoned,
        report.queue.service_level_20s.map_or("-".to_owned(), |s| format!("{:.1} %", s * 100.0)),
        report.records.as_ref().map_or("not read".to_owned(), |r| format!(
            "{} found of {}: {} missing, {} duplicated, {} wrong",
            r.found,
            r.generated,
            r.missing,
            r.duplicated,
            r.wrong_disposition + r.wrong_path + r.wrong_survey + r.wrong_keys
        )),
    );
    for p in &report.problems {
        let _ = writeln!(out, "<p><strong>{}</strong></p>", escape(p));
    }
    out.push_str(&chart("concurrent calls", "calls", &series(|s| s.concurrent as f64)));
    out.push_str(&chart("callers in the queue", "calls", &series(|s| s.in_queue as f64)));
    out.push_str(&chart("setup latency p99 (cumulative)", "ms", &series(|s| s.setup_p99_ms)));
    out.push_str(&chart("generator send deviation p99 per second", "ms", &series(|s| s.send_deviation_p99_ms)));
    out.push_str(&chart("jitter, largest so far", "ms", &series(|s| s.jitter_max_ms)));
    out.push_str(&chart("generator CPU", "% of a core", &series(|s| s.generator_cpu_percent)));
    out.push_str(&chart("server CPU", "% of a core", &series(|s| s.server_cpu_percent.unwrap_or(0.0))));
    out.push_str(&chart("server memory", "MiB", &series(|s| s.server_rss_mb.unwrap_or(0.0))));
    out.push_str("</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_scales_its_series_into_the_box_and_text_is_escaped() {
        let svg = chart("a <b> & c", "ms", &[0.0, 5.0, 10.0]);
        assert!(svg.contains("a &lt;b&gt; &amp; c"), "{svg}");
        assert!(svg.contains("points=\"0.0,160.0 320.0,87.3 640.0,14.5\""), "{svg}");
        // An empty or flat series draws without dividing by zero.
        assert!(chart("x", "ms", &[]).contains("points=\"\""));
        assert!(chart("x", "ms", &[0.0, 0.0]).contains("0.0,160.0 640.0,160.0"));
    }
}
