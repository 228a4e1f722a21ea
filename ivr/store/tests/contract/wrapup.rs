//! Operators' wrap-ups (`call_wrapups`, migration 0006): stored once per
//! call and agent, checked before any SQL, read by call and by time range,
//! counted by disposition code, and part of the right-of-access export.

use ivr_store::wrapup::{DispositionCount, MAX_NOTES_CHARS, disposition_csv};
use ivr_store::{Access, CallDetails, CallRecord, CallWrapUp, FinishedCall, Pseudonymizer, Store, WrapUpError};

const SECRET: &[u8] = b"config secret of the 012 line!!!";
const T0: i64 = 1_795_000_000_000;

/// A call answered by an operator, from the caller `number`.
fn call(n: i64, number: &str, pseudonymizer: &Pseudonymizer) -> FinishedCall {
    let record = CallRecord {
        call_id: format!("call-{n}"),
        dialled: "012".into(),
        started_at_ms: T0 + n * 1_000,
        answered_at_ms: Some(T0 + n * 1_000 + 250),
        ended_at_ms: T0 + n * 1_000 + 60_000,
        end_reason: "caller_hangup".into(),
        sip_status: None,
        codec: Some("PCMA".into()),
        language: "ca".into(),
        digits_rfc4733: 2,
        digits_sip_info: 0,
        digits_inband: 0,
        rtp_packets_sent: 3_000,
        rtp_packets_received: 3_000,
        rtp_packets_lost: 0,
    };
    let mut call = FinishedCall::from(record);
    call.details = CallDetails {
        caller_pseudonym: Some(pseudonymizer.pseudonym(number)),
        agent: Some("marta".into()),
        ..call.details
    };
    call
}

fn wrap_up(call_id: &str, agent: &str, code: &str, finished_at_ms: i64, wrap_up_ms: impl Into<Option<i64>>) -> CallWrapUp {
    CallWrapUp {
        call_id: call_id.into(),
        agent: agent.into(),
        disposition_code: code.into(),
        notes: None,
        finished_at_ms,
        wrap_up_ms: wrap_up_ms.into(),
    }
}

pub(crate) async fn wrap_ups_are_stored_once_checked_counted_and_exported(store: Store, _url: String) {
    // Stored as given, notes with line breaks and 2,000 non-ASCII
    // characters included; read back per call in the order finished.
    let long_notes = "é".repeat(MAX_NOTES_CHARS);
    let first = CallWrapUp { notes: Some(long_notes.clone()), ..wrap_up("call-1", "marta", "resolved", T0 + 70_000, 9_500) };
    assert!(store.insert_wrap_up(&first).await.expect("insert"), "a new row");
    // A transfer: the second operator wraps up the same call too.
    let second = CallWrapUp {
        notes: Some("Derivat a Salut.\nVol una cita.".into()),
        ..wrap_up("call-1", "jordi", "referred", T0 + 65_000, 4_000)
    };
    assert!(store.insert_wrap_up(&second).await.expect("insert"));
    assert_eq!(store.wrap_ups_for_call("call-1").await.expect("read"), [second.clone(), first.clone()]);
    assert!(store.wrap_ups_for_call("call-404").await.expect("read").is_empty());

    // A retried insert (the writer's commit was in doubt) adds nothing and
    // does not replace the first.
    let retried = CallWrapUp { disposition_code: "other".into(), ..first.clone() };
    assert!(!store.insert_wrap_up(&retried).await.expect("idempotent"), "already stored");
    assert_eq!(store.wrap_ups_for_call("call-1").await.expect("read")[1], first);

    // Refused before any SQL: nothing is written.
    let refused = [
        (CallWrapUp { notes: Some("x".repeat(MAX_NOTES_CHARS + 1)), ..wrap_up("call-2", "marta", "resolved", T0, 0) }, "NotesTooLong"),
        (wrap_up("call-2", "marta", "Resolt!", T0, 0), "InvalidCode"),
        (wrap_up("call-2", "marta", "", T0, 0), "InvalidCode"),
        (CallWrapUp { notes: Some("\u{0}".into()), ..wrap_up("call-2", "marta", "resolved", T0, 0) }, "InvalidNotes"),
        (wrap_up("", "marta", "resolved", T0, 0), "InvalidId"),
        (wrap_up("call-2", "marta", "resolved", T0, -5), "NegativeDuration"),
    ];
    for (bad, expected) in refused {
        let error = store.insert_wrap_up(&bad).await.expect_err("refused");
        assert!(format!("{error:?}").starts_with(expected), "{error:?} is not {expected}");
        assert!(!matches!(error, WrapUpError::Store(_)));
    }
    assert!(store.wrap_ups_for_call("call-2").await.expect("read").is_empty());

    // A time range, half-open, oldest first; and the counts by code.
    store.insert_wrap_up(&wrap_up("call-3", "marta", "resolved", T0 + 80_000, 16_000)).await.expect("insert");
    store.insert_wrap_up(&wrap_up("call-4", "marta", "complaint", T0 + 90_000, 30_000)).await.expect("insert");
    // Wrap-up time unknown (it had run out): counted, adds no time.
    store.insert_wrap_up(&wrap_up("call-5", "jordi", "complaint", T0 + 95_000, None)).await.expect("insert");
    assert_eq!(store.wrap_ups_for_call("call-5").await.expect("read")[0].wrap_up_ms, None);
    let between = store.wrap_ups_between(T0 + 65_000, T0 + 90_000).await.expect("range");
    let keys: Vec<(&str, &str)> = between.iter().map(|w| (w.call_id.as_str(), w.agent.as_str())).collect();
    assert_eq!(keys, [("call-1", "jordi"), ("call-1", "marta"), ("call-3", "marta")]);
    let counts = store.disposition_counts(T0, T0 + 100_000).await.expect("counts");
    let expected = [
        DispositionCount { disposition_code: "complaint".into(), wrap_ups: 2, wrap_up_ms: 30_000 },
        DispositionCount { disposition_code: "referred".into(), wrap_ups: 1, wrap_up_ms: 4_000 },
        DispositionCount { disposition_code: "resolved".into(), wrap_ups: 2, wrap_up_ms: 25_500 },
    ];
    assert_eq!(counts, expected);
    assert_eq!(
        disposition_csv(&counts),
        "disposition_code,wrap_ups,wrap_up_s\ncomplaint,2,30.0\nreferred,1,4.0\nresolved,2,25.5\n"
    );
    assert!(store.disposition_counts(T0 + 100_000, T0 + 200_000).await.expect("counts").is_empty());

    // The right-of-access export carries the wrap-ups of the caller's calls
    // (and none of another caller's), notes included.
    let p = Pseudonymizer::new(SECRET).expect("secret");
    let calls = [call(1, "+34 600 111 222", &p), call(3, "+34600111222", &p), call(4, "+34 699 000 000", &p)];
    store.insert_finished(&calls).await.expect("insert calls");
    let access = Access { who: "dpo", why: "GDPR art. 15 request 2026-118", at_ms: T0 + 1_000_000 };
    let export = store.export_caller(&p, "+34600111222", &access).await.expect("export");
    let ids: Vec<&str> = export.calls.iter().map(FinishedCall::call_id).collect();
    assert_eq!(ids, ["call-1", "call-3"]);
    let keys: Vec<(&str, &str)> = export.wrap_ups.iter().map(|w| (w.call_id.as_str(), w.agent.as_str())).collect();
    assert_eq!(keys, [("call-1", "jordi"), ("call-1", "marta"), ("call-3", "marta")]);
    let json = serde_json::to_value(&export).expect("serialisable");
    assert_eq!(json["wrap_ups"][0]["notes"], "Derivat a Salut.\nVol una cita.");
    assert_eq!(json["wrap_ups"][1]["notes"].as_str().map(|n| n.chars().count()), Some(MAX_NOTES_CHARS));
    assert_eq!(json["wrap_ups"][1]["notes"], long_notes.as_str());
}
