//! The simulation's storage thread: finished calls arrive in batches over a
//! bounded channel and are inserted with `Store::insert_finished`, one
//! transaction per batch, while the simulation goes on; at the end the
//! thread runs the yearly report on what it stored.
//!
//! Owns the store connection and its tokio runtime (the simulation itself
//! is synchronous). Must never write to a database that already holds
//! calls: the "exactly one record per call" check would be meaningless.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ivr_store::report::{ReportQuery, ReportTable, report};
use ivr_store::{FinishedCall, Store};

use super::SimError;

/// Batches in flight between the simulation and the store.
const CHANNEL_BATCHES: usize = 4;

/// What the storage thread did.
#[derive(Debug, Clone)]
pub struct Stored {
    pub records: u64,
    pub batches: u64,
    /// Time spent inside `insert_finished`.
    pub insert_time: Duration,
    pub report: ReportTable,
    pub report_time: Duration,
}

/// The simulation's end of the channel.
#[derive(Debug)]
pub struct RecordSink {
    tx: Option<SyncSender<Vec<FinishedCall>>>,
    handle: Option<JoinHandle<Result<Stored, SimError>>>,
    /// Time the simulation spent blocked on a full channel.
    pub blocked: Duration,
}

impl RecordSink {
    /// Connects to `url` (creating the SQLite file), checks it holds no
    /// call, and starts the thread. `query` is the report run at the end.
    pub fn start(url: &str, query: ReportQuery) -> Result<RecordSink, SimError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(SimError::Runtime)?;
        let store = runtime.block_on(async {
            let store = Store::connect(url).await?;
            let existing = store.count_calls().await?;
            Ok::<_, SimError>((store, existing))
        });
        let (store, existing) = store?;
        if existing > 0 {
            runtime.block_on(store.close());
            return Err(SimError::DatabaseNotEmpty { calls: existing });
        }
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        let handle = std::thread::Builder::new()
            .name("sim-store".to_owned())
            .spawn(move || runtime.block_on(store_batches(store, rx, query)))
            .map_err(SimError::Runtime)?;
        Ok(RecordSink { tx: Some(tx), handle: Some(handle), blocked: Duration::ZERO })
    }

    /// Hands a batch to the thread (waits while the channel is full).
    pub fn send(&mut self, batch: Vec<FinishedCall>) -> Result<(), SimError> {
        let t = Instant::now();
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        self.blocked += t.elapsed();
        if sent { Ok(()) } else { self.finish().and(Err(SimError::WriterGone)) }
    }

    /// Closes the channel and waits for the last insert and the report.
    pub fn finish(&mut self) -> Result<Stored, SimError> {
        self.tx = None;
        match self.handle.take() {
            Some(handle) => handle.join().map_err(|_| SimError::WriterGone)?,
            None => Err(SimError::WriterGone),
        }
    }
}

async fn store_batches(store: Store, rx: Receiver<Vec<FinishedCall>>, query: ReportQuery) -> Result<Stored, SimError> {
    let (mut records, mut batches, mut insert_time) = (0u64, 0u64, Duration::ZERO);
    let result = async {
        // A blocking receive is fine: this runtime serves only this thread.
        while let Ok(batch) = rx.recv() {
            let t = Instant::now();
            store.insert_finished(&batch).await?;
            insert_time += t.elapsed();
            records += batch.len() as u64;
            batches += 1;
        }
        let t = Instant::now();
        let table = report(&store, &query).await?;
        Ok(Stored { records, batches, insert_time, report: table, report_time: t.elapsed() })
    }
    .await;
    store.close().await;
    result
}
