//! The simulation's storage threads: finished calls arrive in batches over a
//! bounded channel; a binding thread binds each batch's multi-row
//! statements (`Store::bind_batch`, plain CPU work) while the storing
//! thread runs the previous batch's (`Store::insert_bound`, one transaction
//! per batch), so the two overlap on a machine's two cores, while the
//! simulation goes on. The agents' logins and logoffs ride along in the
//! same batches and become staffing intervals (`agent_staffing`, the
//! denominator of occupancy) through the server's own [`StaffingLog`] and
//! `Store::insert_staffing`. At the end the storing thread closes the
//! intervals still open at the end of the simulated period, stores them,
//! and runs the report on what it stored.
//!
//! Owns the store connection and its tokio runtime (the simulation itself
//! is synchronous). Must never write to a database that already holds
//! calls: the "exactly one record per call" check would be meaningless.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ivr_store::report::{AgentStaffingEvent, ReportQuery, ReportTable, StaffingInterval, StaffingLog, report};
use ivr_store::{BoundBatch, FinishedCall, Store};

use super::SimError;

/// Batches in flight between the simulation and the binding thread, and
/// between it and the storing thread.
const CHANNEL_BATCHES: usize = 2;
/// Closed staffing intervals stored together (a few days' shifts).
const STAFFING_BATCH: usize = 2_000;

/// What the simulation hands the storage thread at once.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<FinishedCall>,
    /// Agents' logins and logoffs, in time order.
    pub staffing: Vec<AgentStaffingEvent>,
}

/// What the storage thread did.
#[derive(Debug, Clone)]
pub struct Stored {
    pub records: u64,
    pub batches: u64,
    /// Staffing intervals stored.
    pub staffing_intervals: u64,
    /// Time the storing thread spent inside `insert_bound` and
    /// `insert_staffing` (binding is the binding thread's).
    pub insert_time: Duration,
    pub report: ReportTable,
    pub report_time: Duration,
}

/// The simulation's end of the channel.
#[derive(Debug)]
pub struct RecordSink {
    tx: Option<SyncSender<Batch>>,
    handle: Option<JoinHandle<Result<Stored, SimError>>>,
    /// Time the simulation spent blocked on a full channel.
    pub blocked: Duration,
}

impl RecordSink {
    /// Connects to `url` (creating the SQLite file), checks it holds no
    /// call, and starts the thread. `query` is the report run at the end;
    /// agents still logged in at its end (`query.to`) are staffed until
    /// then.
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
        let (tx, rx) = sync_channel::<Batch>(CHANNEL_BATCHES);
        let (bound_tx, bound_rx) = sync_channel::<Bound>(CHANNEL_BATCHES);
        let binder = store.clone();
        std::thread::Builder::new()
            .name("sim-bind".to_owned())
            .spawn(move || {
                // Ends when the simulation closes its end, or when the
                // storing thread has stopped (its error is reported there).
                while let Ok(batch) = rx.recv() {
                    let bound = Bound { records: binder.bind_batch(batch.records), staffing: batch.staffing };
                    if bound_tx.send(bound).is_err() {
                        break;
                    }
                }
            })
            .map_err(SimError::Runtime)?;
        let handle = std::thread::Builder::new()
            .name("sim-store".to_owned())
            .spawn(move || runtime.block_on(store_batches(store, bound_rx, query)))
            .map_err(SimError::Runtime)?;
        Ok(RecordSink { tx: Some(tx), handle: Some(handle), blocked: Duration::ZERO })
    }

    /// Hands a batch to the thread (waits while the channel is full).
    pub fn send(&mut self, batch: Batch) -> Result<(), SimError> {
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

/// A batch with its statements bound.
struct Bound {
    records: BoundBatch,
    staffing: Vec<AgentStaffingEvent>,
}

async fn store_batches(store: Store, rx: Receiver<Bound>, query: ReportQuery) -> Result<Stored, SimError> {
    let (mut records, mut batches, mut insert_time) = (0u64, 0u64, Duration::ZERO);
    let mut staffing = StaffingLog::default();
    let mut closed: Vec<StaffingInterval> = Vec::with_capacity(STAFFING_BATCH);
    let mut staffing_intervals = 0u64;
    let result = async {
        // A blocking receive is fine: this runtime serves only this thread.
        while let Ok(batch) = rx.recv() {
            let t = Instant::now();
            let count = batch.records.calls().len() as u64;
            if count > 0 {
                store.insert_bound(batch.records).await?;
                records += count;
                batches += 1;
            }
            closed.extend(batch.staffing.iter().filter_map(|event| staffing.apply(event)));
            if closed.len() >= STAFFING_BATCH {
                store.insert_staffing(&closed).await?;
                staffing_intervals += closed.len() as u64;
                closed.clear();
            }
            insert_time += t.elapsed();
        }
        let t = Instant::now();
        closed.extend(staffing.close_all(query.to.as_millisecond()));
        store.insert_staffing(&closed).await?;
        staffing_intervals += closed.len() as u64;
        insert_time += t.elapsed();
        let t = Instant::now();
        let table = report(&store, &query).await?;
        Ok(Stored { records, batches, staffing_intervals, insert_time, report: table, report_time: t.elapsed() })
    }
    .await;
    store.close().await;
    result
}
