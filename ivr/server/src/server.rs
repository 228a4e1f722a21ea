//! The shell: sockets, timers, signals and tasks around the sans-IO engine.
//!
//! Owns the SIP UDP socket and TCP listener, the HTTP server, the media-loop
//! thread and graceful shutdown. One tokio task runs the [`Engine`]; it wakes
//! for a SIP message, a media notice, the engine's next deadline or a signal,
//! feeds the engine, then sends everything the engine queued. Every task it
//! starts is tracked and stopped on shutdown; nothing here decides call
//! behaviour.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_console::{Console, ConsoleConfig, LiveState, SystemClock};
use anyhow::Context;
use ivr_sip::{Transmit, Transport};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::ServerConfig;
use crate::console_control::{ConsoleRequest, EngineConsole, SoftphoneLinks};
use crate::engine::{Engine, EngineStatus, WallClock};
use crate::media_loop::{self, MediaCommand};
use crate::dialplan_host::{self, DialplanStatus};
use crate::sip_tcp::{self, TcpEvent};
use crate::telemetry;

/// Finished call records queued towards the database writer.
const RECORD_QUEUE: usize = 16_384;

/// The console's live state is republished at most this often (when
/// something changed), well within its 1 s promise.
const LIVE_INTERVAL: Duration = Duration::from_millis(250);

/// How long BYEs sent at the end of the grace period may take to complete.
const BYE_DRAIN: Duration = Duration::from_secs(3);

/// Runs `ivr serve` until SIGTERM or SIGINT and the graceful drain are done.
pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let dialplan = {
        let (path, dir) = (config.dialplan.clone(), config.prompts_dir.clone());
        tokio::task::spawn_blocking(move || dialplan_host::load(&path, &dir)).await??
    };
    for warning in &dialplan.warnings {
        warn!("{warning}");
    }
    let prompts_loaded = dialplan.prompts.len();
    let dialplan_status = Arc::new(std::sync::RwLock::new(DialplanStatus {
        path: config.dialplan.clone(),
        version: dialplan.program.version.clone(),
        loaded_at: Some(std::time::SystemTime::now()),
        ..DialplanStatus::default()
    }));
    info!(dialplan = %config.dialplan.display(), version = %dialplan.program.version, "dialplan loaded");
    let metrics = telemetry::init_metrics()?;

    let udp = Arc::new(
        UdpSocket::bind(config.sip.listen)
            .await
            .with_context(|| format!("cannot bind SIP UDP {}", config.sip.listen))?,
    );
    widen_receive_buffer(&udp);
    let tcp = TcpListener::bind(config.sip.listen)
        .await
        .with_context(|| format!("cannot bind SIP TCP {}", config.sip.listen))?;
    let http = TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("cannot bind HTTP {}", config.http_listen))?;

    let store = ivr_store::Store::connect(&config.db_url)
        .await
        .with_context(|| "cannot open the call-record database".to_owned())?;
    info!(backend = %store.backend(), "call records database ready");
    let migrated = store.migrate().await.context("cannot migrate the call-record database")?;
    info!(version = migrated, "database schema up to date");
    let journal_dir = config.data_dir.join("journal");
    let (records, record_writer, recovery) = ivr_store::RecordWriter::open(store.clone(), &journal_dir, RECORD_QUEUE)
        .await
        .with_context(|| format!("cannot open the call-record journal in {}", journal_dir.display()))?;
    if !recovery.interrupted.is_empty() {
        warn!(calls = recovery.interrupted.len(), "calls in progress at the last stop were closed as interrupted");
    }
    let pseudonymizer = {
        let dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || crate::wiring::pseudonymizer(&dir)).await??
    };
    let (acd, registrar) = crate::wiring::load_acd(&config, Instant::now())?;

    let status = Arc::new(EngineStatus::default());
    let (notice_tx, mut notices) = mpsc::unbounded_channel();
    let (media, media_thread) = media_loop::spawn(notice_tx, config.media.realtime).context("cannot start the media loop")?;
    let clock = WallClock { base_instant: Instant::now(), base_system: std::time::SystemTime::now() };
    let mut engine = Engine::new(
        config.clone(),
        media.clone(),
        dialplan.clone(),
        status.clone(),
        Some(records),
        clock,
        acd,
        Some(registrar),
        Some(pseudonymizer),
        fastrand::u64(..),
    );
    // Operators' wrap-ups (disposition code, notes): stored off the engine's task.
    let (wrap_ups, wrap_up_writer) = crate::wrap_up_writer::spawn(store.clone());
    engine.set_wrap_up_writer(wrap_ups);

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let (installs_tx, mut installs) = mpsc::unbounded_channel();
    let (reload_requests_tx, reload_requests) = mpsc::unbounded_channel();
    let (console_tx, mut console_requests) = mpsc::unbounded_channel();
    let (live_tx, live_rx) = watch::channel(Arc::new(LiveState::new(Instant::now())));
    let control = Arc::new(EngineConsole {
        status: status.clone(),
        prompts_loaded: prompts_loaded as u64,
        metrics: metrics.clone(),
        requests: console_tx,
        live: live_rx,
        dialplan_status: dialplan_status.clone(),
        reloads: reload_requests_tx,
        queues_file: config.acd.queues.clone(),
        agents_file: config.acd.agents.clone(),
        allow_demo_passwords: config.acd.allow_demo_passwords,
        calendars_dir: config.dialplan.parent().map_or_else(|| PathBuf::from("calendars"), |d| d.join("calendars")),
    });
    let console = Console::new(
        control,
        store.clone(),
        ConsoleConfig {
            ice_servers: config.ice_servers.clone(),
            voice_processing: config.voice_processing,
            disposition_codes: config.disposition_codes.clone(),
            ..ConsoleConfig::default()
        },
        Arc::new(SystemClock),
    );
    let mut live_tick = tokio::time::interval(LIVE_INTERVAL);
    live_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tasks.spawn(dialplan_host::watch_and_reload(
        config.dialplan.clone(),
        config.prompts_dir.clone(),
        dialplan,
        dialplan_status.clone(),
        installs_tx,
        reload_requests,
        stop_rx.clone(),
    ));
    tasks.spawn(serve_http(http, console, stop_rx.clone()));
    tasks.spawn(metrics_upkeep(metrics, stop_rx.clone()));
    tasks.spawn(purge_callback_numbers(store.clone(), stop_rx.clone()));
    let (tcp_tx, mut tcp_events) = mpsc::channel(1024);
    tasks.spawn(sip_tcp::accept_loop(tcp, tcp_tx, stop_rx.clone()));
    let mut tcp_conns = sip_tcp::Connections::default();
    let mut softphones: SoftphoneLinks = SoftphoneLinks::default();
    let mut supervisor_phones: SoftphoneLinks<String> = SoftphoneLinks::default();

    info!(sip = %config.sip.listen, http = %config.http_listen, prompts = prompts_loaded, "ivr ready");

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut shutdown_deadline: Option<Instant> = None;
    let mut hard_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 65_535];

    loop {
        let now = Instant::now();
        if let Some(deadline) = shutdown_deadline {
            if engine.active_calls() == 0 && engine.sip_idle() {
                break;
            }
            if now >= deadline && hard_deadline.is_none() {
                info!(calls = engine.active_calls(), "grace period over: hanging up the remaining calls");
                engine.hang_up_all(now);
                hard_deadline = Some(now + BYE_DRAIN);
            }
            if hard_deadline.is_some_and(|d| now >= d) {
                warn!("BYEs still unanswered at the end of the drain; stopping anyway");
                break;
            }
        }
        flush(&mut engine, &udp, &mut tcp_conns, &config.data_dir).await;
        while let Some((agent, message)) = engine.poll_softphone() {
            softphones.send(agent, message);
        }
        while let Some((login, message)) = engine.poll_supervisor_phone() {
            supervisor_phones.send(login, message);
        }

        let mut wake_at = engine.poll_timeout();
        for d in [shutdown_deadline, hard_deadline].into_iter().flatten() {
            wake_at = Some(wake_at.map_or(d, |w| w.min(d)));
        }
        let sleep = tokio::time::sleep_until(wake_at.map_or_else(far_future, tokio::time::Instant::from_std));

        tokio::select! {
            received = udp.recv_from(&mut buf) => match received {
                Ok((len, from)) => engine.handle_sip(Instant::now(), Transport::Udp, from, &buf[..len]),
                // ICMP errors for earlier sends surface here on Linux: not fatal.
                Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
            },
            Some(event) = tcp_events.recv() => match event {
                TcpEvent::Connected { peer, writer } => tcp_conns.insert(peer, writer),
                TcpEvent::Message { peer, bytes } => engine.handle_sip(Instant::now(), Transport::Tcp, peer, &bytes),
                TcpEvent::Closed { peer } => tcp_conns.remove(peer),
            },
            Some(notice) = notices.recv() => engine.handle_media(Instant::now(), notice),
            Some(loaded) = installs.recv() => engine.install_dialplan(loaded),
            (agent, message) = softphones.next() => engine.softphone_message(Instant::now(), agent, message),
            (login, message) = supervisor_phones.next() => engine.supervisor_phone_message(Instant::now(), &login, message),
            Some(request) = console_requests.recv() => {
                let now = Instant::now();
                let (result, reply) = match request {
                    ConsoleRequest::Agent { agent, command, reply } => (engine.console_command(now, agent, command), reply),
                    ConsoleRequest::ApplyAcd { config, passwords, reply } => (engine.apply_acd_config(now, &config, &passwords), reply),
                    ConsoleRequest::Softphone { agent, link } => {
                        softphones.insert(agent, link);
                        engine.softphone_linked(now, agent);
                        continue;
                    }
                    ConsoleRequest::Monitor { supervisor, request, reply } => match request {
                        Some(request) => (engine.monitor(now, request), reply),
                        None => (engine.stop_monitor(now, &supervisor), reply),
                    },
                    ConsoleRequest::SupervisorSoftphone { supervisor, link } => {
                        supervisor_phones.insert(supervisor.clone(), link);
                        engine.supervisor_phone_linked(now, supervisor);
                        continue;
                    }
                };
                // The console answers with the state the command left.
                engine.take_live_dirty();
                live_tx.send_replace(Arc::new(engine.live_state(now)));
                let _ = reply.send(result);
            }
            _ = live_tick.tick() => {
                if engine.take_live_dirty() {
                    live_tx.send_replace(Arc::new(engine.live_state(Instant::now())));
                }
            }
            () = sleep => engine.handle_timeout(Instant::now()),
            _ = sigterm.recv(), if shutdown_deadline.is_none() => {
                shutdown_deadline = Some(begin_shutdown(&mut engine, &config));
            }
            _ = sigint.recv(), if shutdown_deadline.is_none() => {
                shutdown_deadline = Some(begin_shutdown(&mut engine, &config));
            }
        }
    }

    flush(&mut engine, &udp, &mut tcp_conns, &config.data_dir).await;
    media.send(MediaCommand::Shutdown);
    // The media thread reports each call's totals as it closes them: collect
    // the last records before the writer is told to finish.
    let drain_until = Instant::now() + Duration::from_secs(2);
    while engine.records_pending() {
        let left = drain_until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, notices.recv()).await {
            Ok(Some(notice)) => engine.handle_media(Instant::now(), notice),
            _ => break,
        }
    }
    drop(engine);
    match record_writer.await {
        Ok(report) => info!(written = report.written, failed_batches = report.failed_batches, "call records flushed"),
        Err(e) => error!(error = %e, "the call-record writer failed"),
    }
    match wrap_up_writer.await {
        Ok(report) => info!(written = report.written, lost = report.lost, "wrap-ups flushed"),
        Err(e) => error!(error = %e, "the wrap-up writer failed"),
    }
    store.close().await;
    let _ = stop_tx.send(true);
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            error!(error = %e, "a server task failed");
        }
    }
    tokio::task::spawn_blocking(move || media_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the media thread panicked"))?;
    info!("ivr stopped");
    Ok(())
}

fn begin_shutdown(engine: &mut Engine, config: &ServerConfig) -> Instant {
    info!(grace = ?config.shutdown_grace, calls = engine.active_calls(), "shutting down: refusing new calls");
    engine.begin_shutdown();
    Instant::now() + config.shutdown_grace
}

/// Resolves once the shutdown flag is set (or its sender is gone).
/// The SIP socket's receive buffer is asked for this much: a burst of new
/// calls (hundreds of INVITEs in a few milliseconds) must wait in the
/// kernel while the engine works, not be dropped there and cost each
/// caller a 500 ms retransmission. The kernel caps it at
/// `net.core.rmem_max` (docs/capacity.md).
const SIP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

fn widen_receive_buffer(udp: &UdpSocket) {
    let socket = socket2::SockRef::from(udp);
    if let Err(e) = socket.set_recv_buffer_size(SIP_RECEIVE_BUFFER) {
        warn!(error = %e, "cannot widen the SIP socket's receive buffer");
    }
    match socket.recv_buffer_size() {
        // Linux reports twice what it was given (the doubled bookkeeping).
        Ok(size) if size < SIP_RECEIVE_BUFFER => warn!(
            bytes = size,
            wanted = SIP_RECEIVE_BUFFER,
            "the SIP socket's receive buffer is capped by net.core.rmem_max: bursts of calls may be dropped and retransmitted"
        ),
        Ok(size) => info!(bytes = size, "SIP socket receive buffer"),
        Err(e) => warn!(error = %e, "cannot read the SIP socket's receive buffer size"),
    }
}

pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // Map the guard away at once: it must not live across an await.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3600)
}

async fn flush(engine: &mut Engine, udp: &UdpSocket, tcp: &mut sip_tcp::Connections, data_dir: &std::path::Path) {
    while let Some((path, wav)) = engine.poll_message() {
        let path = data_dir.join(path);
        // A recorded message: written off the engine's task.
        tokio::task::spawn_blocking(move || {
            let written = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&path, wav));
            if let Err(e) = written {
                error!(path = %path.display(), error = %e, "cannot store a recorded message");
            }
        });
    }
    while let Some(Transmit { transport, to, bytes }) = engine.poll_transmit() {
        match transport {
            Transport::Udp => {
                if let Err(e) = udp.send_to(&bytes, to).await {
                    tracing::debug!(error = %e, %to, "SIP UDP send failed");
                }
            }
            Transport::Tcp => tcp.send(to, bytes),
        }
    }
}

async fn serve_http(listener: TcpListener, console: Console, mut stop: watch::Receiver<bool>) {
    let app = agent_console::app(console).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stopped(&mut stop).await;
        })
        .await;
    if let Err(e) = result {
        error!(error = %e, "HTTP server failed");
    }
}

/// The Prometheus recorder needs its upkeep run on an interval (histogram
/// buckets are drained there).
async fn metrics_upkeep(handle: PrometheusHandle, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            _ = crate::server::stopped(&mut stop) => return,
        }
    }
}

/// Erases callback numbers past their retention: at start-up, then hourly.
async fn purge_callback_numbers(store: ivr_store::Store, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                match store.purge_expired_numbers(now_ms).await {
                    Ok(0) => {}
                    Ok(n) => info!(purged = n, "callback numbers past their retention erased"),
                    Err(e) => warn!(error = %e, "callback-number purge failed; retried in an hour"),
                }
            }
            _ = stopped(&mut stop) => return,
        }
    }
}
