//! SIP over TCP (RFC 3261 §18): the listener, one reader and one writer task
//! per connection, and the engine's table of open connections.
//!
//! Owns byte streams only: framing is `ivr_sip::framing` (sans-IO); complete
//! messages go to the engine as [`TcpEvent::Message`] with the peer address,
//! and responses come back through that connection's writer. A connection
//! that loses its framing is closed; nothing here parses SIP.

use std::collections::HashMap;
use std::net::SocketAddr;

use ivr_sip::framing::{Frame, PONG, StreamFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::debug;

/// The largest SIP message accepted on a stream.
const MAX_MESSAGE: usize = 64 * 1024;
/// Messages queued towards one connection before it counts as stuck.
const WRITER_QUEUE: usize = 256;

#[derive(Debug)]
pub enum TcpEvent {
    Connected { peer: SocketAddr, writer: mpsc::Sender<Vec<u8>> },
    Message { peer: SocketAddr, bytes: Vec<u8> },
    Closed { peer: SocketAddr },
}

/// Open connections by peer address, owned by the engine task.
#[derive(Debug, Default)]
pub struct Connections {
    writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
}

impl Connections {
    pub fn insert(&mut self, peer: SocketAddr, writer: mpsc::Sender<Vec<u8>>) {
        self.writers.insert(peer, writer);
    }

    pub fn remove(&mut self, peer: SocketAddr) {
        self.writers.remove(&peer);
    }

    /// Queues a message on the peer's connection. Opening connections to
    /// peers (for calls we place) comes with the ACD; until then a message to
    /// a peer whose connection closed is dropped, as a datagram would be.
    pub fn send(&mut self, peer: SocketAddr, bytes: Vec<u8>) {
        let Some(writer) = self.writers.get(&peer) else {
            debug!(%peer, "no TCP connection to the peer: message dropped");
            return;
        };
        if writer.try_send(bytes).is_err() {
            debug!(%peer, "TCP connection stuck or closed: dropping it");
            self.writers.remove(&peer);
        }
    }
}

pub async fn accept_loop(listener: TcpListener, events: mpsc::Sender<TcpEvent>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, peer, events.clone(), stop.clone()));
                }
                Err(e) => debug!(error = %e, "TCP accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = crate::server::stopped(&mut stop) => break,
        }
    }
    connections.shutdown().await;
}

async fn connection(stream: TcpStream, peer: SocketAddr, events: mpsc::Sender<TcpEvent>, mut stop: watch::Receiver<bool>) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITER_QUEUE);
    if events.send(TcpEvent::Connected { peer, writer: tx.clone() }).await.is_err() {
        return;
    }
    let mut framer = StreamFramer::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = match read { Ok(0) | Err(_) => break 'conn, Ok(n) => n };
                framer.push(&buf[..n]);
                loop {
                    match framer.next_frame() {
                        Ok(None) => break,
                        Ok(Some(Frame::KeepAlive)) => {
                            let _ = tx.try_send(PONG.to_vec());
                        }
                        Ok(Some(Frame::Message(bytes))) => {
                            if events.send(TcpEvent::Message { peer, bytes }).await.is_err() {
                                break 'conn;
                            }
                        }
                        Err(e) => {
                            debug!(%peer, error = %e, "TCP framing lost: closing");
                            break 'conn;
                        }
                    }
                }
            }
            Some(out) = rx.recv() => {
                if writer.write_all(&out).await.is_err() {
                    break 'conn;
                }
            }
            _ = crate::server::stopped(&mut stop) => break 'conn,
        }
    }
    let _ = events.send(TcpEvent::Closed { peer }).await;
}
