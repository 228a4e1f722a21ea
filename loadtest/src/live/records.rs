//! After a live run: the server's database must hold exactly one record
//! per generated call, with the disposition, path, survey answers and keys
//! the caller's script implies, and no RTP lost on the server's side.
//!
//! Owns the comparison only; reads the store through `ivr-store`'s own
//! queries (records are found by the caller number's pseudonym, computed
//! with the server's key: the numbers themselves are never stored in the
//! record, only in a callback request, which must hold the caller's own
//! number). A message's WAV is looked for where the server writes it:
//! `messages/<call id>.wav` in its data folder, the pseudonym key's.

use std::collections::BTreeMap;

use std::path::Path;
use std::time::Duration;

use ivr_store::{Access, Disposition, FinishedCall, Pseudonymizer, Store};
use serde::Serialize;

/// What the record of one generated call must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub number: String,
    /// `None`: the call failed before it was answered; at most one record.
    pub disposition: Option<Disposition>,
    /// Also acceptable (a race the caller cannot see, see
    /// `Caller::also_accepted`).
    pub also: Option<Disposition>,
    pub path_prefix: String,
    pub survey_answers: Option<u32>,
    pub keys_rfc4733: u32,
    pub keys_inband: u32,
    /// Keys sent by SIP INFO (one request each).
    pub keys_sip_info: u32,
    /// The call ended while a key was being sent, or an INFO key failed:
    /// the server may or may not have counted it, so keys are not compared.
    pub keys_cut: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RecordsReport {
    pub generated: usize,
    pub found: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub wrong_disposition: usize,
    pub wrong_path: usize,
    pub wrong_survey: usize,
    pub wrong_keys: usize,
    /// A callback request missing, unexpected, or for another number.
    pub wrong_callback: usize,
    /// A message missing from the record or from the data folder, or
    /// unexpected.
    pub wrong_message: usize,
    /// The records' dispositions, counted.
    pub dispositions: BTreeMap<String, usize>,
    pub callbacks_kept: usize,
    pub messages_stored: usize,
    /// RTP the server counted as lost on our calls' legs.
    pub server_rtp_lost: i64,
    /// Keys the server counted on our calls, by method.
    pub digits_rfc4733: i64,
    pub digits_inband: i64,
    pub digits_sip_info: i64,
    /// The first few mismatches, described (no caller numbers: indexes).
    pub examples: Vec<String>,
}

impl RecordsReport {
    pub fn problems(&self) -> usize {
        self.missing
            + self.duplicated
            + self.wrong_disposition
            + self.wrong_path
            + self.wrong_survey
            + self.wrong_keys
            + self.wrong_callback
            + self.wrong_message
    }

    /// One line for a report's problems.
    pub fn summary(&self) -> String {
        format!(
            "records: {} missing, {} duplicated, {} wrong disposition, {} wrong path, {} wrong survey, {} wrong keys, {} wrong callback, {} wrong message",
            self.missing,
            self.duplicated,
            self.wrong_disposition,
            self.wrong_path,
            self.wrong_survey,
            self.wrong_keys,
            self.wrong_callback,
            self.wrong_message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("reading the server's pseudonym key {path}: {source}")]
    Key { path: String, source: std::io::Error },
    #[error("the server's pseudonym key is too short")]
    ShortKey,
    #[error("the store: {0}")]
    Store(#[from] ivr_store::StoreError),
    #[error("a runtime for the store: {0}")]
    Runtime(std::io::Error),
}

/// Reads every generated call's records, waiting up to `wait` for the
/// server's writer to catch up (its journal is flushed in batches).
pub fn check(db_url: &str, key_path: &Path, expected: &[Expected], wait: Duration) -> Result<RecordsReport, RecordsError> {
    let key = std::fs::read(key_path).map_err(|source| RecordsError::Key { path: key_path.display().to_string(), source })?;
    let pseudonymizer = Pseudonymizer::new(&key).map_err(|_| RecordsError::ShortKey)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(RecordsError::Runtime)?;
    runtime.block_on(async {
        let store = Store::connect(db_url).await?;
        let access = Access { who: "loadtest", why: "check one record per generated call", at_ms: 0 };
        let deadline = tokio::time::Instant::now() + wait;
        let mut records: Vec<Vec<FinishedCall>> = Vec::with_capacity(expected.len());
        loop {
            records.clear();
            for e in expected {
                records.push(store.export_caller(&pseudonymizer, &e.number, &access).await?.calls);
            }
            let missing = expected.iter().zip(&records).filter(|(e, r)| e.disposition.is_some() && r.is_empty()).count();
            if missing == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        store.close().await;
        let data_dir = key_path.parent().unwrap_or(Path::new("."));
        Ok(compare(expected, &records, &|path| is_wav(&data_dir.join(path))))
    })
}

/// Whether a file starts as a RIFF WAVE file does.
fn is_wav(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 12];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head[..4] == b"RIFF" && &head[8..] == b"WAVE"
}

/// The comparison itself, on records already read; `stored` tells whether
/// a message path of a record names a stored WAV.
pub fn compare(expected: &[Expected], records: &[Vec<FinishedCall>], stored: &dyn Fn(&str) -> bool) -> RecordsReport {
    let mut report = RecordsReport { generated: expected.len(), ..RecordsReport::default() };
    let note = |report: &mut RecordsReport, text: String| {
        if report.examples.len() < 20 {
            report.examples.push(text);
        }
    };
    for (index, (e, found)) in expected.iter().zip(records).enumerate() {
        match found.len() {
            0 if e.disposition.is_some() => {
                report.missing += 1;
                note(&mut report, format!("call {index}: no record"));
                continue;
            }
            0 => continue,
            1 => report.found += 1,
            n => {
                report.duplicated += 1;
                note(&mut report, format!("call {index}: {n} records"));
                continue;
            }
        }
        let call = &found[0];
        report.server_rtp_lost += call.record.rtp_packets_lost.max(0);
        report.digits_rfc4733 += call.record.digits_rfc4733;
        report.digits_inband += call.record.digits_inband;
        report.digits_sip_info += call.record.digits_sip_info;
        *report.dispositions.entry(call.disposition().to_string()).or_default() += 1;
        report.callbacks_kept += usize::from(call.callback.is_some());
        let message = call.details.message_recording.as_deref();
        report.messages_stored += usize::from(message.is_some_and(stored));
        let Some(disposition) = e.disposition else { continue };
        if call.disposition() != disposition && Some(call.disposition()) != e.also {
            report.wrong_disposition += 1;
            note(&mut report, format!("call {index}: disposition {} expected {disposition} (path {})", call.disposition(), call.details.ivr_path));
        }
        if !call.details.ivr_path.starts_with(&e.path_prefix) {
            report.wrong_path += 1;
            note(&mut report, format!("call {index}: path {:?} expected to start {:?}", call.details.ivr_path, e.path_prefix));
        }
        if let Some(n) = e.survey_answers
            && call.survey_answers.len() != n as usize
        {
            report.wrong_survey += 1;
            note(&mut report, format!("call {index}: {} survey answers, expected {n}", call.survey_answers.len()));
        }
        // A callback request, with the caller's own number in clear, with a
        // `called_back` record and only then; a stored message likewise
        // with `message_left` (the disposition is compared above).
        let wants_callback = call.disposition() == Disposition::CalledBack;
        let number = call.callback.as_ref().map(|c| c.number_clear.as_deref());
        if wants_callback && number != Some(Some(e.number.as_str())) || !wants_callback && number.is_some() {
            report.wrong_callback += 1;
            let found = match number {
                None => "none",
                Some(None) => "one without its number",
                Some(Some(n)) if n == e.number => "one",
                Some(Some(_)) => "one for another number",
            };
            note(&mut report, format!("call {index}: callback request {found}, expected {}", if wants_callback { "one" } else { "none" }));
        }
        let wants_message = call.disposition() == Disposition::MessageLeft;
        let wav = message.is_some_and(|path| path == format!("messages/{}.wav", call.record.call_id) && stored(path));
        if wants_message != wav || !wants_message && message.is_some() {
            report.wrong_message += 1;
            note(&mut report, format!("call {index}: message {message:?}, expected {}", if wants_message { "a stored WAV" } else { "none" }));
        }
        let keys = (call.record.digits_rfc4733, call.record.digits_inband, call.record.digits_sip_info);
        let sent = (i64::from(e.keys_rfc4733), i64::from(e.keys_inband), i64::from(e.keys_sip_info));
        if !e.keys_cut && keys != sent {
            report.wrong_keys += 1;
            note(&mut report, format!("call {index}: keys (rfc4733, in-band, sip-info) {keys:?}, sent {sent:?}"));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivr_store::{CallDetails, CallRecord};

    fn record(disposition: Disposition, path: &str, rfc4733: i64) -> FinishedCall {
        let record = CallRecord { call_id: "x".into(), digits_rfc4733: rfc4733, digits_sip_info: 2, ..CallRecord::default() };
        let details = CallDetails { disposition: Some(disposition), ivr_path: path.into(), ..CallDetails::default() };
        FinishedCall { record, details, ..FinishedCall::default() }
    }

    fn expected(disposition: Option<Disposition>) -> Expected {
        Expected {
            number: "600000000".into(),
            disposition,
            path_prefix: "welcome>choose-language[1]>lang-ca>main[2]".into(),
            survey_answers: None,
            keys_rfc4733: 3,
            keys_inband: 0,
            keys_sip_info: 2,
            keys_cut: false,
            also: None,
        }
    }

    #[test]
    fn one_matching_record_passes_and_each_kind_of_mismatch_is_counted() {
        let path = "welcome>choose-language[1]>lang-ca>main[2]>health>health-served>health-options";
        let good = record(Disposition::CompletedInIvr, path, 3);
        let e = vec![expected(Some(Disposition::CompletedInIvr)); 5];
        let records = vec![
            vec![good.clone()],
            vec![],
            vec![good.clone(), good.clone()],
            vec![record(Disposition::AbandonedInIvr, "welcome>choose-language[2]", 2)],
            vec![good],
        ];
        let r = compare(&e, &records, &|_| true);
        assert_eq!((r.found, r.missing, r.duplicated), (3, 1, 1));
        assert_eq!((r.wrong_disposition, r.wrong_path, r.wrong_keys), (1, 1, 1));
        assert_eq!(r.problems(), 5);
        assert_eq!(r.examples.len(), 5);
    }

    #[test]
    fn keys_are_compared_per_method_unless_the_call_cut_one() {
        let path = "welcome>choose-language[1]>lang-ca>main[2]";
        let good = record(Disposition::CompletedInIvr, path, 3);
        let mut by_info_missing = good.clone();
        by_info_missing.record.digits_sip_info = 1;
        let mut as_other_method = good.clone();
        (as_other_method.record.digits_sip_info, as_other_method.record.digits_rfc4733) = (0, 5);
        let mut cut = expected(Some(Disposition::CompletedInIvr));
        cut.keys_cut = true;
        let e = vec![expected(Some(Disposition::CompletedInIvr)), expected(Some(Disposition::CompletedInIvr)), expected(Some(Disposition::CompletedInIvr)), cut];
        let r = compare(&e, &[vec![good], vec![by_info_missing.clone()], vec![as_other_method], vec![by_info_missing]], &|_| true);
        assert_eq!(r.wrong_keys, 2, "{:?}", r.examples);
        assert_eq!(r.examples[0], "call 1: keys (rfc4733, in-band, sip-info) (3, 0, 1), sent (3, 0, 2)");
        assert_eq!((r.digits_rfc4733, r.digits_sip_info), (14, 4));
    }

    #[test]
    fn a_callback_keeps_the_callers_own_number_and_a_message_names_its_stored_wav() {
        use ivr_store::{CallbackRequest, CallbackState};
        let path = "welcome>choose-language[1]>lang-ca>main[2]>operator>closed-now>out-of-hours>contact-options";
        let request = |number: Option<&str>| CallbackRequest {
            queue: "general".into(),
            number_clear: number.map(str::to_owned),
            requested_at_ms: 0,
            purge_after_ms: 1,
            state: CallbackState::Pending,
        };
        let mut called_back = record(Disposition::CalledBack, path, 3);
        called_back.callback = Some(request(Some("600000000")));
        let mut other_number = called_back.clone();
        other_number.callback = Some(request(Some("600000009")));
        let mut no_request = called_back.clone();
        no_request.callback = None;
        let mut message = record(Disposition::MessageLeft, path, 3);
        message.details.message_recording = Some("messages/x.wav".into());
        let mut message_elsewhere = message.clone();
        message_elsewhere.details.message_recording = Some("messages/y.wav".into());
        let out_of_hours = record(Disposition::OutOfHours, path, 3);
        let mut stray_request = out_of_hours.clone();
        stray_request.callback = Some(request(Some("600000000")));
        let e = [
            expected(Some(Disposition::CalledBack)),
            expected(Some(Disposition::CalledBack)),
            expected(Some(Disposition::CalledBack)),
            expected(Some(Disposition::MessageLeft)),
            expected(Some(Disposition::MessageLeft)),
            expected(Some(Disposition::OutOfHours)),
            expected(Some(Disposition::OutOfHours)),
        ];
        let records = [called_back, other_number, no_request, message, message_elsewhere, out_of_hours, stray_request].map(|r| vec![r]);
        let stored = |path: &str| path == "messages/x.wav";
        let r = compare(&e, &records, &stored);
        assert_eq!((r.wrong_disposition, r.wrong_callback, r.wrong_message), (0, 3, 1), "{:?}", r.examples);
        assert_eq!(r.examples[0], "call 1: callback request one for another number, expected one");
        assert_eq!((r.callbacks_kept, r.messages_stored), (3, 1));
        assert_eq!(r.dispositions.get("called_back"), Some(&3));
        // The same message record with its WAV missing from the folder.
        let r = compare(&e[3..4], &records[3..4], &|_| false);
        assert_eq!(r.wrong_message, 1);
    }

    #[test]
    fn a_call_that_failed_before_answer_may_have_no_record_but_not_two() {
        let e = vec![expected(None), expected(None)];
        let failed = record(Disposition::Failed, "", 0);
        let r = compare(&e, &[vec![], vec![failed.clone(), failed]], &|_| true);
        assert_eq!((r.missing, r.duplicated), (0, 1));
    }
}
