//! A real browser against a `SoftphoneLeg`: headless Chromium with a fake
//! microphone playing a 1 kHz tone negotiates WebRTC over a WebSocket (once
//! with the engine offering PCMA, as the console does, once with Chromium
//! offering and the leg answering PCMU), the leg runs on a real UDP socket
//! on loopback, and audio is checked both ways:
//! the browser's RTP decodes (G.711, no transcoding) to the 1 kHz tone, and
//! the browser's `getStats()` shows the 440 Hz tone we send arriving with
//! energy.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! says SKIPPED on stderr and passes, unless `CI` is set: then it fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{Html, Response};
use axum::routing::get;
use ivr_media::Codec;
use ivr_media::g711;
use ivr_media::rtp::{RtpPacket, write_rtp_header};
use ivr_softphone::{SoftphoneConfig, SoftphoneEvent, SoftphoneLeg};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

const BROWSER_TONE_HZ: f64 = 1000.0;
const ENGINE_TONE_HZ: f64 = 440.0;
/// Bound on every wait for the browser.
const WAIT: Duration = Duration::from_secs(30);

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>softphone test</title>
<script>
window.softphone = { error: null, pc: null };
(async () => {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: {
    echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  const pc = new RTCPeerConnection({ iceServers: [] });
  window.softphone.pc = pc;
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  pc.ontrack = e => {
    const audio = new Audio();
    audio.srcObject = new MediaStream([e.track]);
    audio.play().catch(err => { window.softphone.error = 'play: ' + err; });
  };
  pc.onicecandidate = e => {
    if (e.candidate) ws.send(JSON.stringify({ type: 'candidate', candidate: e.candidate.candidate }));
  };
  ws.onmessage = async m => {
    const msg = JSON.parse(m.data);
    try {
      if (msg.type === 'answer') {
        await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      } else if (msg.type === 'offer') {
        await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        ws.send(JSON.stringify({ type: 'answer', sdp: answer.sdp }));
      } else if (msg.type === 'please-offer') {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        ws.send(JSON.stringify({ type: 'offer', sdp: offer.sdp }));
      }
    } catch (e) { window.softphone.error = String(e); }
  };
  ws.send(JSON.stringify({ type: 'ready' }));
})().catch(e => { window.softphone.error = String(e); });
window.inboundAudio = async () => {
  if (window.softphone.error) return { error: window.softphone.error };
  if (!window.softphone.pc) return null;
  const report = await window.softphone.pc.getStats();
  for (const s of report.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      const codec = report.get(s.codecId);
      return { packets: s.packetsReceived ?? 0, energy: s.totalAudioEnergy ?? 0,
               codec: codec ? codec.mimeType : null };
    }
  }
  return null;
};
</script>"#;

/// Who makes the SDP offer, and with which law the call should end up.
#[derive(Debug, Clone, Copy)]
enum Flow {
    /// The console's flow: the engine offers (here PCMA only), Chromium answers.
    EngineOffers,
    /// Chromium offers (Opus first, both laws); the leg answers PCMU.
    BrowserOffers,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_talks_g711_both_ways_through_a_softphone_leg() -> anyhow::Result<()> {
    let Some((chromium, chromedriver)) = browser_binaries()? else {
        return Ok(());
    };
    let dir = std::env::temp_dir().join(format!("ivr-softphone-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let wav = dir.join("tone-1khz.wav");
    write_tone_wav(&wav, BROWSER_TONE_HZ)?;
    let driver = ChromeDriver::start(&chromedriver)?;
    let mut outcome = Ok(());
    for flow in [Flow::EngineOffers, Flow::BrowserOffers] {
        outcome = one_call(&driver, &chromium, &wav, flow).await.with_context(|| format!("{flow:?}"));
        if outcome.is_err() {
            break;
        }
    }
    drop(driver);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn one_call(driver: &ChromeDriver, chromium: &Path, wav: &Path, flow: Flow) -> anyhow::Result<()> {
    // Signalling: the page's WebSocket <-> the media task.
    let (to_engine, from_browser) = mpsc::unbounded_channel::<String>();
    let (to_browser, for_browser) = mpsc::unbounded_channel::<String>();
    let signalling = Arc::new(Signalling { to_engine, for_browser: Mutex::new(Some(for_browser)) });
    let app = Router::new().route("/", get(|| async { Html(PAGE) })).route("/ws", get(upgrade)).with_state(signalling);
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_addr = http.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(http, app).await });

    // The engine's side: one UDP socket, one leg.
    let udp = UdpSocket::bind("127.0.0.1:0").await?;
    let (stop, stopped) = oneshot::channel();
    let media = tokio::spawn(run_leg(udp, flow, from_browser, to_browser, stopped));

    let outcome = drive_browser(driver, chromium, wav, http_addr).await;
    let _ = stop.send(());
    let report = media.await.context("media task")??;
    server.abort();

    let browser = outcome?;
    eprintln!("{flow:?}: browser inbound-rtp: {browser}");
    eprintln!(
        "{flow:?}: engine: {} packets from the browser, events {:?}, {:?}",
        report.packets, report.events, report.counters
    );
    ensure!(report.events.first() == Some(&SoftphoneEvent::Connected), "events: {:?}", report.events);
    let (codec, name) = match flow {
        Flow::EngineOffers => (Codec::Pcma, "audio/PCMA"),
        Flow::BrowserOffers => (Codec::Pcmu, "audio/PCMU"),
    };
    ensure!(report.negotiated == Some(codec), "negotiated {:?}, expected {codec:?}", report.negotiated);
    ensure!(browser["codec"] == name, "the browser decodes {name}: {browser}");

    // Our side: the browser's fake microphone, G.711-decoded, is the tone.
    ensure!(report.samples.len() >= 8000, "less than a second of audio from the browser: {}", report.samples.len());
    let tail = &report.samples[report.samples.len() / 2..];
    let tone = goertzel_power(tail, BROWSER_TONE_HZ);
    for other in [440.0, 700.0, 1400.0, 2000.0] {
        let power = goertzel_power(tail, other);
        ensure!(tone > 100.0 * power, "1 kHz power {tone:.3e} does not dominate {other} Hz ({power:.3e})");
    }
    ensure!(rms(tail) > 1000.0, "the browser's audio is too quiet: rms {}", rms(tail));
    Ok(())
}

struct Signalling {
    to_engine: mpsc::UnboundedSender<String>,
    for_browser: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

async fn upgrade(State(signalling): State<Arc<Signalling>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| relay(socket, signalling))
}

/// One page, one WebSocket: text frames to the engine, answers back.
async fn relay(mut socket: WebSocket, signalling: Arc<Signalling>) {
    let outbox = signalling.for_browser.lock().ok().and_then(|mut slot| slot.take());
    let Some(mut outbox) = outbox else { return };
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if signalling.to_engine.send(text.to_string()).is_err() { return }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            reply = outbox.recv() => match reply {
                Some(text) => if socket.send(Message::Text(text.into())).await.is_err() { return },
                None => return,
            },
        }
    }
}

struct MediaReport {
    samples: Vec<i16>,
    packets: usize,
    events: Vec<SoftphoneEvent>,
    counters: ivr_softphone::SoftphoneCounters,
    negotiated: Option<Codec>,
}

/// The thin shell a media loop would be: socket, timer, signalling and a
/// 20 ms tone generator around one `SoftphoneLeg`.
async fn run_leg(
    udp: UdpSocket,
    flow: Flow,
    mut signals: mpsc::UnboundedReceiver<String>,
    answers: mpsc::UnboundedSender<String>,
    mut stop: oneshot::Receiver<()>,
) -> anyhow::Result<MediaReport> {
    let local = udp.local_addr()?;
    let mut config = SoftphoneConfig::new(vec![local]);
    if let Flow::EngineOffers = flow {
        config.codecs = vec![Codec::Pcma];
    }
    let mut leg = SoftphoneLeg::new(config, Instant::now())?;
    let mut report = MediaReport {
        samples: Vec::new(),
        packets: 0,
        events: Vec::new(),
        counters: Default::default(),
        negotiated: None,
    };
    let mut tone = ToneSender::new(ENGINE_TONE_HZ);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = leg.poll_timeout().unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            _ = &mut stop => break,
            signal = signals.recv() => {
                let Some(signal) = signal else { break };
                let message: Value = serde_json::from_str(&signal)?;
                match message["type"].as_str() {
                    Some("ready") => {
                        let reply = match flow {
                            Flow::EngineOffers => json!({ "type": "offer", "sdp": leg.create_offer(Instant::now())? }),
                            Flow::BrowserOffers => json!({ "type": "please-offer" }),
                        };
                        answers.send(reply.to_string())?;
                    }
                    Some("answer") => {
                        let sdp = message["sdp"].as_str().context("answer without sdp")?;
                        leg.accept_answer(Instant::now(), sdp)?;
                    }
                    Some("offer") => {
                        let sdp = message["sdp"].as_str().context("offer without sdp")?;
                        let answer = leg.accept_offer(Instant::now(), sdp)?;
                        answers.send(json!({ "type": "answer", "sdp": answer }).to_string())?;
                    }
                    Some("candidate") => {
                        let candidate = message["candidate"].as_str().unwrap_or_default();
                        leg.add_remote_candidate(Instant::now(), candidate)?;
                    }
                    other => bail!("unexpected signal {other:?}"),
                }
            }
            received = udp.recv_from(&mut buf) => {
                let (len, from) = received?;
                leg.handle_datagram(Instant::now(), from, local, buf.get(..len).unwrap_or_default());
            }
            _ = tokio::time::sleep_until(deadline.into()) => leg.handle_timeout(Instant::now()),
            _ = tick.tick() => {
                if let Some(negotiated) = leg.negotiated().filter(|_| leg.is_connected()) {
                    let packet = tone.next_packet(negotiated.payload_type);
                    leg.send_rtp(Instant::now(), &packet)?;
                }
            }
        }
        while let Some(transmit) = leg.poll_transmit() {
            udp.send_to(&transmit.bytes, transmit.to).await?;
        }
        while let Some(datagram) = leg.poll_rtp() {
            let packet = RtpPacket::parse(&datagram)?;
            let negotiated = leg.negotiated().context("RTP before negotiation")?;
            if packet.payload_type == negotiated.payload_type {
                report.packets += 1;
                report.samples.extend(packet.payload.iter().map(|&b| g711::decode(negotiated.codec, b)));
            }
        }
        while let Some(event) = leg.poll_event() {
            report.events.push(event);
        }
    }
    report.counters = leg.counters();
    report.negotiated = leg.negotiated().map(|n| n.codec);
    Ok(report)
}

/// PCMU or PCMA frames of a sine, 20 ms each, on one SSRC.
struct ToneSender {
    hz: f64,
    seq: u16,
    timestamp: u32,
}

impl ToneSender {
    fn new(hz: f64) -> ToneSender {
        ToneSender { hz, seq: 1000, timestamp: 160_000 }
    }

    fn next_packet(&mut self, pt: u8) -> Vec<u8> {
        let codec = Codec::from_payload_type(pt).unwrap_or(Codec::Pcmu);
        let samples: Vec<i16> = (0..160u32)
            .map(|i| {
                let t = f64::from(self.timestamp.wrapping_add(i)) / 8000.0;
                (8000.0 * (2.0 * std::f64::consts::PI * self.hz * t).sin()) as i16
            })
            .collect();
        let mut packet = vec![0u8; 12 + 160];
        write_rtp_header(&mut packet, self.seq == 1000, pt, self.seq, self.timestamp, 0x5AFE_0012);
        g711::encode_into(codec, &samples, &mut packet[12..]);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(160);
        packet
    }
}

/// Loads the page and waits, bounded, until the browser reports inbound
/// audio with energy; returns its last stats.
async fn drive_browser(driver: &ChromeDriver, chromium: &Path, wav: &Path, http: SocketAddr) -> anyhow::Result<Value> {
    let args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--autoplay-policy=no-user-gesture-required".to_owned(),
        "--use-fake-ui-for-media-stream".to_owned(),
        "--use-fake-device-for-media-stream".to_owned(),
        format!("--use-file-for-fake-audio-capture={}", wav.display()),
        "--allow-loopback-in-peer-connection".to_owned(),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".to_owned(), json!({ "binary": chromium, "args": args }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = fantoccini::ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .context("WebDriver session")?;
    let result = async {
        client.goto(&format!("http://{http}/")).await?;
        let started = Instant::now();
        loop {
            let stats = client.execute("return await window.inboundAudio();", vec![]).await?;
            if let Some(error) = stats.get("error") {
                bail!("the page failed: {error}");
            }
            let packets = stats["packets"].as_u64().unwrap_or(0);
            let energy = stats["energy"].as_f64().unwrap_or(0.0);
            if packets >= 100 && energy > 0.0 {
                return Ok(stats);
            }
            ensure!(started.elapsed() < WAIT, "no inbound audio in the browser after {WAIT:?}: {stats}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    let _ = client.close().await;
    result
}

/// A chromedriver child on a free loopback port, killed on drop.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start(binary: &Path) -> anyhow::Result<ChromeDriver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning chromedriver")?;
        let driver = ChromeDriver { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(started.elapsed() < WAIT, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(chromium, chromedriver)`, or `None` after saying SKIPPED; an error
/// under CI, where the browser must be installed.
fn browser_binaries() -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    let find = |names: &[&str]| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        names.iter().find_map(|name| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()))
    };
    match (find(&["chromium", "chromium-browser"]), find(&["chromedriver"])) {
        (Some(chromium), Some(driver)) => Ok(Some((chromium, driver))),
        _ if std::env::var_os("CI").is_some() => {
            bail!("CI is set but chromium or chromedriver is missing (Debian packages chromium, chromium-driver)")
        }
        _ => {
            eprintln!("SKIPPED chromium softphone test: install Debian packages chromium and chromium-driver");
            Ok(None)
        }
    }
}

/// Two seconds of a sine at 48 kHz, 16-bit mono; Chromium loops the file.
fn write_tone_wav(path: &Path, hz: f64) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for i in 0..96_000u32 {
        let t = f64::from(i) / 48_000.0;
        writer.write_sample((12_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16)?;
    }
    writer.finalize()?;
    Ok(())
}

/// Power of one frequency in 8 kHz samples (Goertzel over the whole slice).
fn goertzel_power(samples: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / samples.len().max(1) as f64
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}
