//! `loadtest make-pcap` writes RTP captures for SIPp's `play_pcap_audio`;
//! `loadtest analyze-pcap` reports loss, jitter and send-grid deviation of
//! the RTP streams in a tcpdump capture; `loadtest year --simulated` runs
//! a year of calls through the dialplan interpreter, ACD and store on a
//! simulated clock; `loadtest erlang` sizes agents and trunks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use loadtest::{audio, erlang, generate, pcap, rtp, sim};

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
