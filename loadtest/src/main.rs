//! `loadtest make-pcap` writes RTP captures for SIPp's `play_pcap_audio`;
//! `loadtest analyze-pcap` reports loss, jitter and send-grid deviation of
//! the RTP streams in a tcpdump capture; `loadtest year --simulated` runs
//! a year of calls through the dialplan interpreter, ACD and store on a
//! simulated clock; `loadtest erlang` sizes agents and trunks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use loadtest::{audio, erlang, generate, live, pcap, rtp, sim};

#[derive(Parser)]
#[command(name = "loadtest", about = "RTP capture tools for testing the 012 IVR against real peers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum CodecArg {
    Pcmu,
    Pcma,
}

#[derive(Subcommand)]
enum Command {
    /// Write a pcap of one G.711 RTP stream (for SIPp `play_pcap_audio`).
    MakePcap {
        #[arg(long, value_enum, default_value = "pcmu")]
        codec: CodecArg,
        /// Packet time in ms: 20 or 30.
        #[arg(long, default_value_t = 20)]
        ptime: u32,
        /// Audio to send after the leading silence (8 kHz mono 16-bit; resample with sox first).
        #[arg(long)]
        wav: Option<PathBuf>,
        /// In-band DTMF keys played after the audio, e.g. 123# (see --dtmf-at-ms).
        #[arg(long, default_value = "")]
        inband_dtmf: String,
        /// Mix the in-band tones into the audio from this ms (instead of after it).
        #[arg(long)]
        dtmf_at_ms: Option<u32>,
        /// RFC 4733 keys sent after the in-band part (payload type --event-pt).
        #[arg(long, default_value = "")]
        rfc4733: String,
        #[arg(long, default_value_t = 101)]
        event_pt: u8,
        /// Tone (and event) length and the gap after each key, in ms.
        #[arg(long, default_value_t = 80)]
        tone_ms: u32,
        #[arg(long, default_value_t = 80)]
        gap_ms: u32,
        /// Level of each of the two DTMF frequencies, in dBm0.
        #[arg(long, default_value_t = -10.0, allow_negative_numbers = true)]
        tone_dbm0: f64,
        /// Leading silence, in ms.
        #[arg(long, default_value_t = 0)]
        silence_ms: u32,
        /// Trailing silence, in ms.
        #[arg(long, default_value_t = 200)]
        tail_ms: u32,
        #[arg(short = 'o', long)]
        output: PathBuf,
    },
    /// Report on the RTP streams in a libpcap capture.
    AnalyzePcap {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Only streams sent from this UDP port (repeatable).
        #[arg(long)]
        src_port: Vec<u16>,
        /// Only streams whose main payload type is 0 or 8 (G.711 audio).
        #[arg(long)]
        audio_only: bool,
        /// Write the decoded G.711 audio of the largest stream to this WAV.
        #[arg(long)]
        decode_to: Option<PathBuf>,
    },
    /// Say whether a recording contains a reference (both 8 kHz WAV):
    /// best normalised cross-correlation and where.
    FindAudio { recording: PathBuf, reference: PathBuf },
    /// The line's year through the real interpreter, ACD and store on a
    /// simulated clock (no sockets), then the yearly report against Erlang C.
    Year {
        /// Required: the only year mode so far (the live one is to come).
        #[arg(long)]
        simulated: bool,
        #[arg(long, default_value_t = 2_000_000)]
        calls: u64,
        #[arg(long, default_value_t = 12)]
        seed: u64,
        /// Simulate only these days of the year, from --from (the calls
        /// given by --calls fall in them).
        #[arg(long, requires = "from")]
        days: Option<u32>,
        /// First day of --days, e.g. 2026-01-12.
        #[arg(long, requires = "days")]
        from: Option<jiff::civil::Date>,
        /// Default: a new SQLite file under the system temp directory.
        #[arg(long)]
        db: Option<String>,
        /// The repository root (with dialplans/ and prompts/).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Print the time of each phase.
        #[arg(long)]
        speed_report: bool,
        /// Also store each call's queue events as its timeline.
        #[arg(long)]
        timeline: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Live load against a running `ivr serve`: callers and operators over
    /// real SIP/RTP, then the records check and a JSON result.
    Run(LiveArgs),
    /// Ramp concurrent calls until p99 send deviation passes the limit,
    /// RTP is lost or setups fail; report the knee.
    Capacity {
        #[command(flatten)]
        live: LiveArgs,
        #[arg(long, default_value_t = 100)]
        start: usize,
        #[arg(long, default_value_t = 100)]
        step: usize,
        #[arg(long, default_value_t = 5_000)]
        max: usize,
        /// Seconds at each level.
        #[arg(long, default_value_t = 20)]
        hold_secs: u64,
        #[arg(long, default_value_t = 2.0)]
        max_deviation_ms: f64,
    },
    /// A steady load (--rate or --concurrency) for --duration seconds or
    /// --max-calls calls, sampling the server's memory, descriptors and CPU
    /// and our setup latency and RTP per interval; exit 1 on a leak beyond
    /// the limits or on any failed call.
    Soak {
        #[command(flatten)]
        live: LiveArgs,
        /// Seconds per sample.
        #[arg(long, default_value_t = 60)]
        interval_secs: u64,
        /// Samples starting before this are left out of the drift.
        #[arg(long, default_value_t = 300)]
        warmup_secs: u64,
        /// The load phase also ends once this many calls were offered.
        #[arg(long, default_value_t = 1_000_000)]
        max_calls: u64,
        #[arg(long, default_value_t = 20.0)]
        max_rss_growth_mb_per_hour: f64,
        #[arg(long, default_value_t = 50.0)]
        max_fd_growth: f64,
        /// The last interval's setup p99 may be this times the first's ...
        #[arg(long, default_value_t = 2.0)]
        max_setup_p99_ratio: f64,
        /// ... plus this many ms.
        #[arg(long, default_value_t = 20.0)]
        setup_p99_slack_ms: f64,
    },
    /// The CI smoke profile: starts `ivr serve` on loopback, a few hundred
    /// calls in about a minute, records checked; exit 1 on any failure.
    Smoke {
        /// The ivr binary (default: target/debug/ivr beside this one).
        #[arg(long)]
        ivr: Option<PathBuf>,
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Arrivals per second (default: the CI profile's, 22 calls/s for 12 s
        /// with 60 operators; see loadtest/src/live/smoke.rs).
        #[arg(long)]
        calls_per_sec: Option<f64>,
        /// How long calls arrive (default: the CI profile's).
        #[arg(long)]
        arrival_secs: Option<u64>,
        /// Operators registered (default: the CI profile's).
        #[arg(long)]
        operators: Option<usize>,
        /// Keep the server's folder (log, database).
        #[arg(long)]
        keep: bool,
        /// Write the JSON result here (default: stdout).
        #[arg(long)]
        json_out: Option<PathBuf>,
        /// Also write an HTML report with charts here.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Agents for a service level (Erlang C) and trunks for a blocking
    /// target (Erlang B).
    Erlang {
        #[arg(long)]
        calls_per_hour: f64,
        /// Handle time: talk + hold + after-call work.
        #[arg(long)]
        aht_secs: f64,
        #[arg(long, default_value_t = 0.8)]
        target_sl: f64,
        #[arg(long, default_value_t = 20.0)]
        target_secs: f64,
        /// Mean time a call holds a trunk (IVR + queue + talk), for Erlang B;
        /// default: the handle time.
        #[arg(long)]
        trunk_hold_secs: Option<f64>,
        #[arg(long, default_value_t = 0.01)]
        blocking: f64,
    },
}

/// What `run` and `capacity` share: where the server is and what to send.
#[derive(clap::Args)]
struct LiveArgs {
    /// The server's SIP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: std::net::SocketAddr,
    /// The prompts folder (to check what callers hear).
    #[arg(long, default_value = "prompts")]
    prompts: PathBuf,
    /// A traffic profile (year, busy-day, campaign-day) followed at --speed.
    #[arg(long)]
    profile: Option<String>,
    /// Time compression of the profile (60: an hour a minute).
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// Profile hour to start at (local time of its first day).
    #[arg(long, default_value_t = 10)]
    from_hour: usize,
    /// Fixed Poisson arrivals per second instead of a profile.
    #[arg(long)]
    rate: Option<f64>,
    /// Keep this many calls up instead.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Load phase, in seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Then let calls end by themselves for at most this.
    #[arg(long, default_value_t = 120)]
    drain: u64,
    /// Scales patience, abandonment and talk times (0.05: minutes to seconds).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Operators from the server's ACD files (demo, env or file passwords).
    #[arg(long, requires = "queues")]
    agents: Option<PathBuf>,
    #[arg(long)]
    queues: Option<PathBuf>,
    /// The server's database and pseudonym key, for the records check.
    #[arg(long, requires = "pseudonym_key")]
    db: Option<String>,
    #[arg(long)]
    pseudonym_key: Option<PathBuf>,
    /// The server's pid: its CPU, memory and descriptors over time.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 4)]
    rtp_sockets: usize,
    /// Share of calls (0 to 1) whose heard prompts are checked by
    /// correlation; the rest are timed and counted but not correlated.
    #[arg(long, default_value_t = 1.0, value_parser = share_in_0_1)]
    audio_check_share: f64,
    #[arg(long, default_value_t = 12)]
    seed: u64,
    /// The server's line during the run: `open` (staffed: operators are
    /// asked for in the queue) or `closed` (out of hours: the contact
    /// options). The generator cannot read the server's calendar:
    /// `STAFFED=never loadtest/bench/live-server.sh` serves a closed line.
    #[arg(long, default_value = "open")]
    line: live::Line,
    /// Register only the first N operators of --agents (fewer operators
    /// than the server knows: callers wait in the queue).
    #[arg(long)]
    operators: Option<usize>,
    /// Share of queued callers (0 to 1) who press the queue's callback key
    /// when still waiting after their callback time (default: the line's
    /// mix, 0.05).
    #[arg(long, value_parser = share_in_0_1)]
    callback_in_queue: Option<f64>,
    /// The agent console (http://HOST:PORT, the server's --http): each
    /// operator, once registered, also signs in there and sets its status
    /// login and available, and logs out at the end. The console user is
    /// the operator's own login with its SIP password
    /// (`CONSOLE_USERS=N loadtest/bench/live-server.sh` makes them).
    #[arg(long, value_name = "URL")]
    console_url: Option<String>,
    /// Breaks through the console, EVERY_SECS:LENGTH_SECS in the profile's
    /// time (scaled by --time-scale like talk times), staggered across the
    /// operators; taken only off a call. An offer to an operator on break
    /// fails the run.
    #[arg(long, requires = "console_url", value_name = "EVERY:LENGTH", value_parser = break_plan)]
    breaks: Option<live::operator::BreakPlan>,
    /// The reason given for a break (1 to 64 characters).
    #[arg(long, default_value = "loadtest")]
    break_reason: String,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Write the JSON result here (default: stdout).
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Also write an HTML report with charts here.
    #[arg(long)]
    html: Option<PathBuf>,
}

impl LiveArgs {
    fn run_config(&self) -> anyhow::Result<live::RunConfig> {
        let mut c = live::RunConfig::new(self.server, self.prompts.clone());
        c.load = match (&self.profile, self.rate, self.concurrency) {
            (Some(name), None, None) => {
                let profile = loadtest::traffic::TrafficProfile::named(name, Vec::new())?;
                live::Load::Profile { profile: Box::new(profile), speed: self.speed, start_slot: self.from_hour * 2 }
            }
            (None, Some(per_sec), None) => live::Load::Rate { per_sec },
            (None, None, Some(calls)) => live::Load::Concurrency { calls },
            (None, None, None) => live::Load::Rate { per_sec: 10.0 },
            _ => bail!("choose one of --profile, --rate and --concurrency"),
        };
        c.duration = Duration::from_secs(self.duration);
        c.drain = Duration::from_secs(self.drain);
        c.time_scale = self.time_scale;
        c.rtp_sockets = self.rtp_sockets;
        c.seed = self.seed;
        c.server_pid = self.server_pid;
        c.progress = !self.quiet;
        c.audio_check_share = self.audio_check_share;
        c.line = self.line;
        if let Some(share) = self.callback_in_queue {
            c.mix.callback_in_queue = share;
        }
        if let Some(url) = &self.console_url {
            c.console = Some(live::console::ConsoleTarget::parse(url)?);
        }
        c.breaks = self.breaks.clone().map(|plan| live::operator::BreakPlan { reason: self.break_reason.clone(), ..plan });
        if let (Some(agents), Some(queues)) = (&self.agents, &self.queues) {
            c.operators = live::operator::operators_from_files(queues, agents)?;
            if let Some(n) = self.operators {
                c.operators.truncate(n);
            }
        }
        Ok(c)
    }
}

fn break_plan(text: &str) -> Result<live::operator::BreakPlan, String> {
    live::operator::BreakPlan::parse(text).map_err(|e| e.to_string())
}

fn share_in_0_1(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("{x} is not a share between 0 and 1")),
        Err(e) => Err(e.to_string()),
    }
}

fn write_json(value: &impl serde::Serialize, out: Option<&PathBuf>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    match out {
        Some(path) => std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

/// The run's report, with the records check when the server's database
/// and pseudonym key were given.
fn checked_report(mode: &str, args: &LiveArgs, finished: &live::Finished) -> anyhow::Result<live::LiveReport> {
    let report = live::report::live_report(mode, finished, None);
    let (Some(db), Some(key)) = (&args.db, &args.pseudonym_key) else { return Ok(report) };
    let expected = live::expected_records(&finished.engine);
    let records = live::records::check(db, key, &expected, Duration::from_secs(30))?;
    Ok(live::report::with_records(report, records))
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::MakePcap {
            codec,
            ptime,
            wav,
            inband_dtmf,
            dtmf_at_ms,
            rfc4733,
            event_pt,
            tone_ms,
            gap_ms,
            tone_dbm0,
            silence_ms,
            tail_ms,
            output,
        } => {
            if ptime == 0 || ptime > 120 {
                bail!("--ptime must be 1..=120 ms");
            }
            let law = match codec {
                CodecArg::Pcmu => generate::Law::Pcmu,
                CodecArg::Pcma => generate::Law::Pcma,
            };
            let mut spec = generate::PcapSpec::new(law, ptime);
            if let Some(path) = wav {
                let (samples, rate) = audio::read_wav(&path).with_context(|| format!("reading {}", path.display()))?;
                if rate != 8000 {
                    bail!("{} is {rate} Hz: resample it first (sox in.wav -r 8000 -c 1 -b 16 out.wav)", path.display());
                }
                spec.audio = samples;
            }
            for key in inband_dtmf.chars().chain(rfc4733.chars()) {
                if generate::event_code(key).is_none() {
                    bail!("not a DTMF key: {key:?}");
                }
            }
            spec.inband_dtmf = inband_dtmf;
            spec.dtmf_at_ms = dtmf_at_ms;
            spec.rfc4733 = rfc4733;
            spec.event_payload_type = event_pt;
            spec.tone_ms = tone_ms;
            spec.gap_ms = gap_ms;
            spec.tone_dbm0 = tone_dbm0;
            spec.silence_ms = silence_ms;
            spec.tail_ms = tail_ms;
            let datagrams = generate::datagrams(&spec, Duration::from_secs(1_700_000_000));
            let file = std::fs::File::create(&output).with_context(|| format!("creating {}", output.display()))?;
            pcap::write_udp(std::io::BufWriter::new(file), &datagrams)?;
            eprintln!("wrote {} packets to {}", datagrams.len(), output.display());
        }
        Command::AnalyzePcap { file, json, src_port, audio_only, decode_to } => {
            let datagrams = pcap::read_udp_file(&file).with_context(|| format!("reading {}", file.display()))?;
            let streams: Vec<rtp::RtpStream> = rtp::streams(&datagrams)
                .into_iter()
                .filter(|s| src_port.is_empty() || src_port.contains(&s.key.src.port()))
                .filter(|s| !audio_only || matches!(s.main_payload_type(), Some(0 | 8)))
                .collect();
            if let Some(path) = decode_to {
                let largest = streams.iter().max_by_key(|s| s.packets.len()).context("no RTP stream to decode")?;
                audio::write_wav(&path, &largest.decode_g711(), 8000)?;
            }
            let report = rtp::report(&streams, 8000);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "streams {} packets {} lost {} ({:.3} %) duplicates {} deviation p50 {:.2} ms p99 {:.2} ms max {:.2} ms jitter max {:.2} ms",
                    report.streams,
                    report.packets,
                    report.lost,
                    report.loss_percent,
                    report.duplicates,
                    report.deviation_p50_ms,
                    report.deviation_p99_ms,
                    report.deviation_max_ms,
                    report.jitter_max_ms
                );
                for s in &report.per_stream {
                    println!(
                        "  {} -> {} ssrc {:#010x} pt {:?}: {} packets, lost {}, dup {}, jitter {:.2} ms, interval p50 {:.1} max {:.1} ms",
                        s.src, s.dst, s.ssrc, s.payload_type, s.packets, s.lost, s.duplicates, s.jitter_ms, s.interval_p50_ms, s.interval_max_ms
                    );
                }
            }
        }
        Command::FindAudio { recording, reference } => {
            let (heard, heard_rate) = audio::read_wav(&recording)?;
            let (wanted, wanted_rate) = audio::read_wav(&reference)?;
            if heard_rate != wanted_rate {
                bail!("sample rates differ: {heard_rate} Hz vs {wanted_rate} Hz");
            }
            match audio::find(&heard, &wanted) {
                Some(m) => println!(
                    "score {:.3} at {:.3} s (recording {:.2} s, {:.1} dBFS)",
                    m.score,
                    m.offset as f64 / f64::from(heard_rate),
                    heard.len() as f64 / f64::from(heard_rate),
                    audio::rms_dbfs(&heard)
                ),
                None => println!("no match: the reference is longer than the recording, or silent"),
            }
        }
        Command::Year { simulated, calls, seed, days, from, db, root, speed_report, timeline, json } => {
            if !simulated {
                bail!("only `loadtest year --simulated` exists so far");
            }
            let db = match db {
                Some(url) => url,
                None => {
                    let path = std::env::temp_dir().join(format!("loadtest-year-{}.db", std::process::id()));
                    format!("sqlite://{}", path.display())
                }
            };
            let profile = sim::line_profile(&root, calls, from.zip(days))?;
            let mut config = sim::SimConfig::new(root, profile, seed, db.clone());
            config.timeline = timeline;
            eprintln!("simulating {calls} calls (seed {seed}) into {db}");
            let report = sim::run(&config)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print!("{}", sim::summary(&report));
            }
            if speed_report {
                eprintln!("{}", sim::speed_report(&report));
            }
        }
        Command::Run(args) => {
            let config = args.run_config()?;
            let finished = live::run(&config)?;
            let report = checked_report("run", &args, &finished)?;
            write_json(&report, args.json_out.as_ref())?;
            if let Some(path) = &args.html {
                std::fs::write(path, live::html::html(&report)).with_context(|| format!("writing {}", path.display()))?;
            }
            if !report.ok {
                eprintln!("run failed: {}", report.problems.join("; "));
                std::process::exit(1);
            }
        }
        Command::Capacity { live: args, start, step, max, hold_secs, max_deviation_ms } => {
            if args.console_url.is_some() {
                bail!("capacity ramps calls only: --console-url and --breaks are for run and soak");
            }
            let config = live::CapacityConfig {
                run: args.run_config()?,
                start,
                step: step.max(1),
                max,
                hold: Duration::from_secs(hold_secs),
                max_deviation_ms,
            };
            let (capacity, finished) = live::capacity(&config)?;
            let report = live::report::live_report("capacity", &finished, None);
            write_json(&serde_json::json!({ "capacity": capacity, "run": report }), args.json_out.as_ref())?;
        }
        Command::Soak {
            live: args,
            interval_secs,
            warmup_secs,
            max_calls,
            max_rss_growth_mb_per_hour,
            max_fd_growth,
            max_setup_p99_ratio,
            setup_p99_slack_ms,
        } => {
            if args.profile.is_some() {
                bail!("a soak holds a steady load: use --rate or --concurrency");
            }
            let mut run = args.run_config()?;
            if run.server_pid.is_none() {
                run.server_pid = live::soak::pid_of_udp_socket(args.server);
                match run.server_pid {
                    Some(pid) => eprintln!("server pid {pid} (the owner of {})", args.server),
                    None => eprintln!("no server pid found for {}: memory and descriptors not sampled (give --server-pid)", args.server),
                }
            }
            let config = live::soak::SoakConfig {
                run,
                interval: Duration::from_secs(interval_secs.max(1)),
                warmup: Duration::from_secs(warmup_secs),
                max_calls,
                limits: live::soak::LeakLimits { max_rss_growth_mb_per_hour, max_fd_growth, max_setup_p99_ratio, setup_p99_slack_ms },
            };
            let (mut soak, finished) = live::soak::run(&config)?;
            let report = checked_report("soak", &args, &finished)?;
            soak.ok = soak.ok && report.ok;
            write_json(&serde_json::json!({ "soak": soak, "run": report }), args.json_out.as_ref())?;
            if let Some(path) = &args.html {
                std::fs::write(path, live::html::html(&report)).with_context(|| format!("writing {}", path.display()))?;
            }
            if !soak.ok {
                eprintln!("soak failed: {}", soak.leaks.iter().chain(&report.problems).cloned().collect::<Vec<_>>().join("; "));
                std::process::exit(1);
            }
        }
        Command::Smoke { ivr, root, calls_per_sec, arrival_secs, operators, keep, json_out, html } => {
            let ivr = match ivr {
                Some(path) => path,
                None => std::env::current_exe()?.with_file_name("ivr"),
            };
            let mut config = live::smoke::SmokeConfig::ci(ivr, root);
            config.calls_per_sec = calls_per_sec.unwrap_or(config.calls_per_sec);
            config.arrivals = arrival_secs.map_or(config.arrivals, Duration::from_secs);
            config.operators = operators.unwrap_or(config.operators);
            config.keep = keep;
            let report = live::smoke::run(&config)?;
            write_json(&report, json_out.as_ref())?;
            if let Some(path) = &html {
                std::fs::write(path, live::html::html(&report)).with_context(|| format!("writing {}", path.display()))?;
            }
            if !report.ok {
                eprintln!("smoke failed: {}", report.problems.join("; "));
                std::process::exit(1);
            }
        }
        Command::Erlang { calls_per_hour, aht_secs, target_sl, target_secs, trunk_hold_secs, blocking } => {
            if !(calls_per_hour >= 0.0 && aht_secs > 0.0 && (0.0..1.0).contains(&target_sl) && blocking > 0.0) {
                bail!("need --calls-per-hour >= 0, --aht-secs > 0, --target-sl in [0, 1), --blocking > 0");
            }
            let s = erlang::Sizing::for_service_level(calls_per_hour, aht_secs, target_sl, target_secs);
            let trunk_erlangs = erlang::erlangs(calls_per_hour, trunk_hold_secs.unwrap_or(aht_secs));
            let trunks = erlang::servers_for_blocking(trunk_erlangs, blocking);
            println!("traffic        {:.2} erlangs ({calls_per_hour} calls/h x {aht_secs} s)", s.erlangs);
            println!(
                "agents         {} for {:.0} % within {} s (Erlang C)",
                s.agents,
                target_sl * 100.0,
                target_secs
            );
            println!("  P(wait)      {:.1} %", s.probability_of_wait * 100.0);
            println!("  service lvl  {:.1} %", s.service_level * 100.0);
            println!("  ASA          {:.1} s", s.asa_secs);
            println!("  occupancy    {:.1} %", s.occupancy * 100.0);
            println!(
                "trunks         {trunks} for {:.2} % blocking of {:.2} erlangs (Erlang B: {:.3} %)",
                blocking * 100.0,
                trunk_erlangs,
                erlang::erlang_b(trunk_erlangs, trunks) * 100.0
            );
        }
    }
    Ok(())
}
