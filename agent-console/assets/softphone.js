// The browser softphone: the microphone (getUserMedia), an
// RTCPeerConnection with the engine's softphone leg, and signalling over
// `/api/softphone` (JSON with a `type` tag, docs/console.md). Once the
// socket is open and the microphone ready, the browser offers a media
// session (`offer` with `call: null`; the engine's leg is the answering
// side, docs/adr/0003-webrtc.md) that the engine bridges calls into; an
// `offer` from the engine is answered too (a renegotiation, or a session
// per call). Both sides trickle ICE candidates; `bye` ends the session and
// the browser offers a new one; `ping`/`pong` every 10 s keep the socket
// honest.
//
// Owns the page's media and its three visible states (microphone,
// connection, audio) and the reconnect notice. Must never decide a call's
// fate: answering, holding and hanging up go through the console API; a
// dropped socket is the engine's to handle (it does not leave the caller in
// silence), the page only reconnects and says so.

import { t, onLang, setText } from '/static/console.js';

const PING_EVERY_MS = 10_000;
const PONG_TIMEOUT_MS = 30_000;
const MAX_RETRY_MS = 15_000;
const REOFFER_MS = 1000;
// STUN/TURN servers come from the server's `webrtc.ice_servers`
// (`GET /api/softphone/config`, docs/console.md); none configured: host
// candidates, enough on the operators' LAN. `voice_processing`
// (`webrtc.voice_processing`) turns the browser's echo cancellation, noise
// suppression and gain control on (the default) or off (headsets).
async function fetchConfig() {
  const fallback = { iceServers: [], voiceProcessing: true };
  try {
    const response = await fetch('/api/softphone/config', { credentials: 'same-origin' });
    if (!response.ok) return fallback;
    const config = await response.json();
    return {
      iceServers: Array.isArray(config.ice_servers) ? config.ice_servers : [],
      voiceProcessing: config.voice_processing !== false,
    };
  } catch (_) {
    return fallback;
  }
}

// `role`: 'agent' (the agent's calls) or 'supervisor' (a session of the
// supervisor's own, for listening, whispering and barging in).
export function softphone(me, role = 'agent') {
  const ui = {
    mic: document.getElementById('phone-mic'),
    conn: document.getElementById('phone-conn'),
    media: document.getElementById('phone-media'),
    notice: document.getElementById('phone-notice'),
    permission: document.getElementById('phone-permission'),
    start: document.getElementById('phone-start'),
    device: document.getElementById('phone-device'),
    deviceWrap: document.getElementById('phone-device-wrap'),
    audio: document.getElementById('remote-audio'),
    level: document.getElementById('phone-level'),
  };
  const state = { mic: 'off', conn: 'off', media: 'idle', notice: '' };
  let stream = null;
  let socket = null;
  let pc = null;
  let call = null;
  let pendingIce = [];
  let retryMs = 1000;
  let pinger = null;
  let lastPong = 0;
  let muted = false;
  let started = false;
  let beginning = null;     // the one begin() in progress (double click, permission query)
  let iceServers = [];
  let voiceProcessing = true;
  let refused = false;      // the engine answered our offer with an error
  let reoffer = null;
  let inCall = false;       // the page says a call is connected

  const show = () => {
    setText(ui.mic, t(`phone.mic.${state.mic}`));
    setText(ui.conn, t(`phone.conn.${state.conn}`));
    setText(ui.media, t(`phone.media.${state.media}`));
    const notice = state.notice ? t(state.notice) : '';
    setText(ui.notice, notice);
    ui.notice.hidden = !notice;
    ui.start.hidden = state.mic === 'granted';
    ui.deviceWrap.hidden = state.mic !== 'granted';
  };
  const set = (changes) => { Object.assign(state, changes); show(); };
  onLang(show);

  const send = (message) => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };

  function closePc() {
    if (pc) {
      pc.ontrack = null;
      pc.onicecandidate = null;
      pc.onconnectionstatechange = null;
      pc.close();
    }
    pc = null;
    call = null;
    pendingIce = [];
    ui.audio.srcObject = null;
    set({ media: 'idle' });
  }

  function newPc() {
    const peer = new RTCPeerConnection({ iceServers });
    if (stream) for (const track of stream.getAudioTracks()) peer.addTrack(track, stream);
    peer.ontrack = (ev) => {
      ui.audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      ui.audio.play().catch(() => set({ notice: 'phone.notice.autoplay' }));
    };
    peer.onicecandidate = (ev) => {
      const c = ev.candidate;
      send({
        type: 'ice',
        candidate: c ? c.candidate : '',
        sdp_mid: c ? c.sdpMid : null,
        sdp_m_line_index: c ? c.sdpMLineIndex : null,
      });
    };
    peer.onconnectionstatechange = () => {
      const s = peer.connectionState;
      if (s === 'connected') set({ media: 'connected', notice: '' });
      else if (s === 'failed') {
        set({ media: 'failed', notice: 'phone.notice.media_failed' });
        if (peer === pc) { closePc(); offerAgainSoon(); }
      }
      else if (s === 'disconnected') set({ media: 'disconnected' });
      else if (s === 'connecting' || s === 'new') set({ media: 'negotiating' });
    };
    return peer;
  }

  async function addIce(message) {
    if (!pc || !pc.remoteDescription) { pendingIce.push(message); return; }
    try {
      if (message.candidate === '') await pc.addIceCandidate();
      else {
        await pc.addIceCandidate({
          candidate: message.candidate,
          sdpMid: message.sdp_mid ?? null,
          sdpMLineIndex: message.sdp_m_line_index ?? null,
        });
      }
    } catch (e) {
      send({ type: 'error', reason: `ice candidate refused: ${e}` });
    }
  }

  async function takeOffer(message) {
    // A session in place is renegotiated; otherwise a new one starts.
    const renegotiate = pc && pc.signalingState === 'stable' && pc.connectionState !== 'closed';
    if (!renegotiate) { closePc(); pc = newPc(); }
    call = message.call ?? null;
    set({ media: 'negotiating' });
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
      const queued = pendingIce;
      pendingIce = [];
      for (const ice of queued) await addIce(ice);
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: 'answer', call: call, sdp: pc.localDescription.sdp });
      applyMute();
    } catch (e) {
      send({ type: 'error', reason: `offer refused: ${e}` });
      set({ media: 'failed', notice: 'phone.notice.media_failed' });
    }
  }

  /** The browser's offer of a media session the engine bridges calls into. */
  async function offerSession() {
    clearTimeout(reoffer);
    if (!stream || refused || !socket || socket.readyState !== WebSocket.OPEN) return;
    closePc();
    const peer = newPc();
    pc = peer;
    set({ media: 'negotiating' });
    try {
      await peer.setLocalDescription(await peer.createOffer());
      // A later offerSession (a bye, a reconnect) replaced this peer while
      // it was being set up: only the newest one is offered.
      if (peer !== pc) return;
      // Sent before any candidate: those events are queued behind this task.
      send({ type: 'offer', call: null, sdp: peer.localDescription.sdp });
    } catch (e) {
      if (peer === pc) set({ media: 'failed', notice: 'phone.notice.media_failed' });
    }
  }

  function offerAgainSoon() {
    clearTimeout(reoffer);
    reoffer = setTimeout(offerSession, REOFFER_MS);
  }

  async function takeAnswer(message) {
    if (!pc || pc.signalingState !== 'have-local-offer') return;
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
      call = message.call ?? call;
      const queued = pendingIce;
      pendingIce = [];
      for (const ice of queued) await addIce(ice);
    } catch (e) {
      send({ type: 'error', reason: `answer refused: ${e}` });
      set({ media: 'failed', notice: 'phone.notice.media_failed' });
    }
  }

  async function takeMessage(message) {
    switch (message.type) {
      case 'offer': return takeOffer(message);
      case 'answer': return takeAnswer(message);
      case 'ice': return addIce(message);
      case 'bye': closePc(); offerAgainSoon(); return undefined;
      case 'ping': send({ type: 'pong' }); return undefined;
      case 'pong': lastPong = Date.now(); return undefined;
      case 'error':
        // An error while our offer waits for its answer: the engine will
        // not take a session from us now; offer again after a reconnect.
        if (pc && pc.signalingState === 'have-local-offer') { refused = true; closePc(); }
        set({ notice: 'phone.notice.engine_error' });
        return undefined;
      default: return undefined;
    }
  }

  function connect() {
    set({ conn: socket ? 'reconnecting' : 'connecting' });
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/api/softphone?role=${role}`);
    socket = ws;
    ws.addEventListener('open', () => {
      retryMs = 1000;
      lastPong = Date.now();
      refused = false;
      set({ conn: 'connected', notice: '' });
      offerSession();
      clearInterval(pinger);
      pinger = setInterval(() => {
        if (Date.now() - lastPong > PONG_TIMEOUT_MS) { ws.close(); return; }
        send({ type: 'ping' });
      }, PING_EVERY_MS);
    });
    ws.addEventListener('message', (ev) => {
      let message;
      try { message = JSON.parse(ev.data); } catch (_) { return; }
      takeMessage(message);
    });
    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      clearInterval(pinger);
      clearTimeout(reoffer);
      closePc();
      set({ conn: 'reconnecting', notice: inCall ? 'phone.notice.dropped_in_call' : 'phone.notice.reconnecting' });
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    });
  }

  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const current = stream?.getAudioTracks()[0]?.getSettings().deviceId;
    ui.device.replaceChildren();
    for (const d of devices.filter((x) => x.kind === 'audioinput')) {
      const option = document.createElement('option');
      option.value = d.deviceId;
      option.textContent = d.label || t('phone.device_unnamed');
      option.selected = d.deviceId === current;
      ui.device.append(option);
    }
  }

  async function openMic(deviceId) {
    const on = voiceProcessing;
    const audio = { echoCancellation: on, noiseSuppression: on, autoGainControl: on };
    if (deviceId) audio.deviceId = { exact: deviceId };
    const next = await navigator.mediaDevices.getUserMedia({ audio, video: false });
    const track = next.getAudioTracks()[0];
    if (pc && track) {
      for (const sender of pc.getSenders()) if (sender.track?.kind === 'audio') await sender.replaceTrack(track);
    }
    if (stream) for (const old of stream.getTracks()) old.stop();
    stream = next;
    applyMute();
  }

  /** Asks for the microphone and connects, once: a second call (a double
   * click, the permission query racing a click) waits for the first. */
  function begin() {
    if (started) return Promise.resolve();
    if (!beginning) beginning = start().finally(() => { beginning = null; });
    return beginning;
  }

  async function start() {
    if (!navigator.mediaDevices?.getUserMedia || typeof RTCPeerConnection === 'undefined') {
      set({ mic: 'unavailable', notice: 'phone.notice.unsupported' });
      return;
    }
    ui.permission.hidden = false;
    set({ mic: 'asking' });
    ({ iceServers, voiceProcessing } = await fetchConfig());
    try {
      await openMic(null);
    } catch (e) {
      const denied = e && (e.name === 'NotAllowedError' || e.name === 'SecurityError');
      set({ mic: denied ? 'denied' : 'unavailable', notice: denied ? 'phone.notice.denied' : 'phone.notice.no_device' });
      return;
    }
    ui.permission.hidden = true;
    started = true;
    set({ mic: 'granted', notice: '' });
    await listDevices().catch(() => {});
    connect();
  }

  function applyMute() {
    if (stream) for (const track of stream.getAudioTracks()) track.enabled = !muted;
  }

  // The received audio's level, and the packet counts in data attributes
  // (`data-packets-in`, `data-packets-out`, `data-energy-in`, `data-codec`)
  // for whoever checks that audio flows, a person or a test.
  async function measure() {
    const peer = pc;
    if (!peer) { ui.level.value = 0; return; }
    const report = await peer.getStats();
    for (const s of report.values()) {
      if (s.kind !== 'audio') continue;
      if (s.type === 'inbound-rtp') {
        ui.level.value = s.audioLevel ?? 0;
        ui.level.dataset.packetsIn = s.packetsReceived ?? 0;
        ui.level.dataset.energyIn = s.totalAudioEnergy ?? 0;
        ui.level.dataset.codec = report.get(s.codecId)?.mimeType ?? '';
      } else if (s.type === 'outbound-rtp') {
        ui.level.dataset.packetsOut = s.packetsSent ?? 0;
      }
    }
  }
  setInterval(() => { measure().catch(() => {}); }, 1000);

  ui.start.addEventListener('click', begin);
  ui.device.addEventListener('change', () => {
    openMic(ui.device.value).catch(() => set({ notice: 'phone.notice.no_device' }));
  });
  navigator.mediaDevices?.addEventListener?.('devicechange', () => { if (started) listDevices().catch(() => {}); });

  if (role === 'agent' && !me.agent_login) {
    set({ conn: 'off', notice: 'phone.notice.no_agent' });
    ui.start.disabled = true;
  } else {
    show();
    // Permission given before: start at once, no prompt.
    navigator.permissions?.query({ name: 'microphone' })
      .then((p) => { if (p.state === 'granted') begin(); })
      .catch(() => {});
  }

  return {
    /** The page's word on whether a call is connected (for the notice). */
    setInCall(on) { inCall = Boolean(on); },
    /** Silences the microphone locally (the engine mutes too). */
    setMuted(on) { muted = Boolean(on); applyMute(); },
    /** Asks for the microphone and connects (after a user's click). */
    begin,
    get ready() { return started && state.conn === 'connected'; },
  };
}
