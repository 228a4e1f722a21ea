//! Privacy: pseudonyms in the statistics tables, the clear number only in
//! callback requests until its purge, every access to it logged, and the
//! right-of-access export.

use ivr_store::{Access, CallDetails, FinishedCall, Pseudonymizer, RecordWriter, Store};

use crate::calls::{count, full_call};
use crate::writer::{journal_dir, wait_for};

const SECRET: &[u8] = b"config secret of the 012 line!!!";

/// `full_call(n)` from the caller `number`, pseudonymised as the server does.
fn call_from(n: u32, number: &str, pseudonymizer: &Pseudonymizer) -> FinishedCall {
    let mut call = full_call(n);
    call.details = CallDetails { caller_pseudonym: Some(pseudonymizer.pseudonym(number)), ..call.details };
    if let Some(callback) = &mut call.callback {
        callback.number_clear = Some(number.to_owned());
    }
    call
}

/// The TEXT columns of `table`, from the database's own catalogue.
async fn text_columns(url: &str, table: &str) -> Vec<String> {
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await.expect("raw pool");
    let sql = if url.starts_with("postgres") {
        format!("SELECT CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_name = '{table}' AND data_type = 'text'")
    } else {
        format!("SELECT name FROM pragma_table_info('{table}') WHERE type = 'TEXT'")
    };
    let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&pool).await.expect("catalogue");
    pool.close().await;
    columns
}

pub(crate) async fn no_clear_number_in_any_text_column_of_the_statistics_tables(store: Store, url: String) {
    let p = Pseudonymizer::new(SECRET).expect("secret");
    // Through the writer (and so the journal) and directly.
    let dir = journal_dir();
    let (sender, writer, _) = RecordWriter::open(store.clone(), &dir, 64).await.expect("journal opens");
    for n in 0..10 {
        sender.try_send_finished(call_from(n, &format!("+34 612 34{n:02} 78"), &p)).expect("queue has room");
    }
    wait_for("the writer's records", std::time::Duration::from_secs(30), || async { sender.stats().written == 10 })
        .await;
    drop(sender);
    writer.await.expect("writer task does not panic");
    let _ = std::fs::remove_dir_all(dir);
    store.insert_finished(&[call_from(10, "+34612341078", &p)]).await.expect("insert");

    // The digits without prefix or spaces match every number above however
    // it was written.
    let needle = "%3461234%";
    let mut scanned = 0;
    for table in ["calls", "call_events", "survey_answers"] {
        let columns = text_columns(&url, table).await;
        assert!(!columns.is_empty(), "{table} has text columns");
        for column in columns {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE REPLACE({column}, ' ', '') LIKE '{needle}'");
            assert_eq!(count(&url, &sql).await, 0, "a clear number in {table}.{column}");
            scanned += 1;
        }
    }
    assert!(scanned >= 15, "only {scanned} columns scanned");
    // The same search finds the numbers where they belong: it can fail.
    let in_callbacks = format!("SELECT COUNT(*) FROM callback_requests WHERE REPLACE(number_clear, ' ', '') LIKE '{needle}'");
    assert_eq!(count(&url, &in_callbacks).await, 11);
}

pub(crate) async fn expired_clear_numbers_are_purged(store: Store, url: String) {
    let calls: Vec<_> = (0..4).map(full_call).collect();
    store.insert_finished(&calls).await.expect("insert");
    let deadline = |n: usize| calls[n].callback.as_ref().expect("callback").purge_after_ms;

    assert_eq!(store.purge_expired_numbers(deadline(0) - 1).await.expect("purge"), 0, "nothing expired yet");
    assert_eq!(store.purge_expired_numbers(deadline(1)).await.expect("purge"), 2, "due at or before now");
    assert_eq!(store.purge_expired_numbers(deadline(1)).await.expect("purge"), 0, "a second run is a no-op");

    let purged = store.finished_call(calls[1].call_id()).await.expect("read").expect("stored");
    let callback = purged.callback.expect("the request stays for statistics");
    assert_eq!((callback.number_clear, callback.queue.as_str()), (None, "salut"));
    let kept = store.finished_call(calls[2].call_id()).await.expect("read").expect("stored");
    assert_eq!(kept.callback.and_then(|c| c.number_clear), Some("+34600000002".to_owned()));
    assert_eq!(count(&url, "SELECT COUNT(*) FROM callback_requests WHERE number_clear IS NULL").await, 2);
}

pub(crate) async fn reading_a_clear_number_is_logged(store: Store, url: String) {
    let call = full_call(7);
    store.insert_finished(std::slice::from_ref(&call)).await.expect("insert");
    let access = Access { who: "supervisor-3", why: "callback to the caller", at_ms: 1_795_000_500_000 };
    let number = store.clear_number_for(call.call_id(), &access).await.expect("read");
    assert_eq!(number.as_deref(), Some("+34600000007"));
    let unknown = Access { who: "supervisor-3", why: "checking", at_ms: 1_795_000_600_000 };
    assert_eq!(store.clear_number_for("no-such-call", &unknown).await.expect("read"), None);
    assert!(store.set_callback_state(call.call_id(), ivr_store::CallbackState::Completed).await.expect("state"));

    assert_eq!(count(&url, "SELECT COUNT(*) FROM clear_number_access_log").await, 2, "found or not, logged");
    let logged = format!(
        "SELECT COUNT(*) FROM clear_number_access_log WHERE who = 'supervisor-3' \
         AND why = 'callback to the caller' AND at_ms = 1795000500000 AND call_id = '{}'",
        call.call_id()
    );
    assert_eq!(count(&url, &logged).await, 1);
}

pub(crate) async fn export_finds_a_callers_calls_by_number(store: Store, url: String) {
    let p = Pseudonymizer::new(SECRET).expect("secret");
    let mine: Vec<_> = [3, 1, 2].into_iter().map(|n| call_from(n, "+34 600 111 222", &p)).collect();
    let other = call_from(4, "+34600999888", &p);
    store.insert_finished(&mine).await.expect("insert");
    store.insert_finished(std::slice::from_ref(&other)).await.expect("insert");

    let access = Access { who: "dpo", why: "GDPR art. 15 request 2026-117", at_ms: 1_795_001_000_000 };
    let export = store.export_caller(&p, "+34600111222", &access).await.expect("export");
    assert_eq!(export.pseudonym, p.pseudonym("+34600111222"));
    let ids: Vec<&str> = export.calls.iter().map(FinishedCall::call_id).collect();
    assert_eq!(ids, [mine[1].call_id(), mine[2].call_id(), mine[0].call_id()], "oldest first");
    assert_eq!(export.calls[0], mine[1], "whole calls");
    assert_eq!(export.callbacks().count(), 3);

    let json = serde_json::to_value(&export).expect("serialisable");
    assert_eq!(json["calls"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["calls"][0]["callback"]["number_clear"], "+34 600 111 222");

    let nobody = store.export_caller(&p, "+34000000000", &access).await.expect("export");
    assert!(nobody.calls.is_empty());
    assert_eq!(count(&url, "SELECT COUNT(*) FROM clear_number_access_log WHERE who = 'dpo'").await, 2);
}
