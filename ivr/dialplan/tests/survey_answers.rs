//! Survey answers 0 to 10 by keypad: every class of key sequence, checked
//! against a declarative statement of the rule, and the timeouts on a
//! simulated clock.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use ivr_dialplan::survey::{AnswerOutcome, AnswerReader, SURVEY_INTER_DIGIT_TIMEOUT};
use regex::Regex;

const ANSWER_TIMEOUT: Duration = Duration::from_secs(6);
const KEYS: &str = "0123456789*#ABCD";

/// Presses `keys` at one instant, then lets time run out; returns the
/// outcome and how many keys it took.
fn read(keys: &str) -> (AnswerOutcome, usize) {
    let t0 = Instant::now();
    let mut reader = AnswerReader::start(t0, ANSWER_TIMEOUT);
    for (i, key) in keys.chars().enumerate() {
        if let Some(outcome) = reader.handle_key(t0, key) {
            for later in keys.chars().skip(i + 1) {
                assert_eq!(reader.handle_key(t0, later), None, "{keys}: keys after the end are not this answer's");
            }
            assert_eq!(reader.poll_timeout(), None);
            return (outcome, i + 1);
        }
    }
    let deadline = reader.poll_timeout().expect("an unfinished answer has a deadline");
    let outcome = reader.handle_timeout(deadline).expect("the deadline ends it");
    (outcome, keys.len())
}

/// The rule, said another way: an answer is `[0-9]` or `10`, ended by `#`
/// or a pause; the first key that cannot continue such an answer is invalid.
fn expected(keys: &str) -> (AnswerOutcome, usize) {
    static COMPLETE: LazyLock<Regex> = LazyLock::new(|| Regex::new("^([0-9]|10)#$").expect("regex"));
    static PENDING: LazyLock<Regex> = LazyLock::new(|| Regex::new("^([0-9]|10)$").expect("regex"));
    let (complete, pending) = (&*COMPLETE, &*PENDING);
    let value = |s: &str| s.trim_end_matches('#').parse::<u8>().expect("digits");
    for (taken, (at, key)) in keys.char_indices().enumerate() {
        let prefix = &keys[..at + key.len_utf8()];
        if complete.is_match(prefix) {
            return (AnswerOutcome::Answered(value(prefix)), taken + 1);
        }
        if !pending.is_match(prefix) {
            return (AnswerOutcome::Invalid { key }, taken + 1);
        }
    }
    if keys.is_empty() { (AnswerOutcome::NoInput, 0) } else { (AnswerOutcome::Answered(value(keys)), keys.len()) }
}

fn sequences(length: usize) -> Vec<String> {
    (0..length).fold(vec![String::new()], |seqs, _| {
        seqs.iter().flat_map(|s| KEYS.chars().map(move |k| format!("{s}{k}"))).collect()
    })
}

#[test]
fn every_key_sequence_up_to_four_keys_follows_the_rule() {
    let mut checked = 0;
    for length in 0..=4 {
        for keys in sequences(length) {
            assert_eq!(read(&keys), expected(&keys), "keys {keys:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 1 + 16 + 256 + 4096 + 65536);
}

#[test]
fn the_classes_of_key_sequences() {
    use AnswerOutcome::*;
    let cases: &[(&str, AnswerOutcome)] = &[
        ("", NoInput),
        ("7", Answered(7)),
        ("7#", Answered(7)),
        ("0", Answered(0)),
        ("0#", Answered(0)),
        ("1", Answered(1)),
        ("1#", Answered(1)),
        ("10", Answered(10)),
        ("10#", Answered(10)),
        ("*", Invalid { key: '*' }),
        ("#", Invalid { key: '#' }),
        ("A", Invalid { key: 'A' }),
        ("D", Invalid { key: 'D' }),
        ("11", Invalid { key: '1' }),
        ("15", Invalid { key: '5' }),
        ("25", Invalid { key: '5' }),
        ("00", Invalid { key: '0' }),
        ("100", Invalid { key: '0' }),
        ("10*", Invalid { key: '*' }),
        ("9*", Invalid { key: '*' }),
        ("1B", Invalid { key: 'B' }),
    ];
    for (keys, outcome) in cases {
        assert_eq!(read(keys).0, *outcome, "keys {keys:?}");
    }
}

#[test]
fn only_valid_answers_have_a_value() {
    assert_eq!(AnswerOutcome::Answered(10).value(), Some(10));
    assert_eq!(AnswerOutcome::Answered(0).value(), Some(0));
    assert_eq!(AnswerOutcome::Invalid { key: '*' }.value(), None);
    assert_eq!(AnswerOutcome::NoInput.value(), None);
}

#[test]
fn nothing_pressed_is_no_input_at_the_answer_timeout_and_not_before() {
    let t0 = Instant::now();
    let mut reader = AnswerReader::start(t0, ANSWER_TIMEOUT);
    assert_eq!(reader.poll_timeout(), Some(t0 + ANSWER_TIMEOUT));
    assert_eq!(reader.handle_timeout(t0 + ANSWER_TIMEOUT - Duration::from_millis(1)), None);
    assert_eq!(reader.handle_timeout(t0 + ANSWER_TIMEOUT), Some(AnswerOutcome::NoInput));
    assert_eq!(reader.poll_timeout(), None);
    assert_eq!(reader.handle_timeout(t0 + ANSWER_TIMEOUT * 2), None, "already over");
    assert_eq!(reader.outcome(), Some(AnswerOutcome::NoInput));
}

#[test]
fn a_digit_is_the_answer_after_the_inter_digit_pause() {
    let t0 = Instant::now();
    let mut reader = AnswerReader::start(t0, ANSWER_TIMEOUT);
    let pressed = t0 + Duration::from_secs(5);
    assert_eq!(reader.handle_key(pressed, '7'), None);
    assert_eq!(reader.poll_timeout(), Some(pressed + SURVEY_INTER_DIGIT_TIMEOUT));
    assert_eq!(reader.handle_timeout(pressed + SURVEY_INTER_DIGIT_TIMEOUT - Duration::from_millis(1)), None);
    assert_eq!(reader.handle_timeout(pressed + SURVEY_INTER_DIGIT_TIMEOUT), Some(AnswerOutcome::Answered(7)));
}

#[test]
fn a_zero_within_the_pause_after_one_makes_ten_and_a_zero_after_it_is_too_late() {
    let t0 = Instant::now();
    let almost = SURVEY_INTER_DIGIT_TIMEOUT - Duration::from_millis(1);

    let mut reader = AnswerReader::start(t0, ANSWER_TIMEOUT);
    reader.handle_key(t0, '1');
    assert_eq!(reader.handle_timeout(t0 + almost), None);
    assert_eq!(reader.handle_key(t0 + almost, '0'), None, "10 still waits for # or a pause");
    assert_eq!(reader.poll_timeout(), Some(t0 + almost + SURVEY_INTER_DIGIT_TIMEOUT));
    assert_eq!(reader.handle_timeout(t0 + almost + SURVEY_INTER_DIGIT_TIMEOUT), Some(AnswerOutcome::Answered(10)));

    let mut reader = AnswerReader::start(t0, ANSWER_TIMEOUT);
    reader.handle_key(t0, '1');
    assert_eq!(reader.handle_timeout(t0 + SURVEY_INTER_DIGIT_TIMEOUT), Some(AnswerOutcome::Answered(1)));
    assert_eq!(reader.handle_key(t0 + SURVEY_INTER_DIGIT_TIMEOUT, '0'), None, "that 0 is not this answer's");
}

#[test]
fn a_short_answer_timeout_also_shortens_the_inter_digit_pause() {
    let t0 = Instant::now();
    let short = Duration::from_secs(2);
    let mut reader = AnswerReader::start(t0, short);
    reader.handle_key(t0, '4');
    assert_eq!(reader.poll_timeout(), Some(t0 + short));
}

#[test]
fn an_answer_timeout_too_long_to_add_to_the_clock_does_not_panic() {
    let t0 = Instant::now();
    let mut reader = AnswerReader::start(t0, Duration::MAX);
    assert!(reader.poll_timeout().is_some_and(|d| d > t0));
    assert_eq!(reader.handle_key(t0, '3'), None);
    assert_eq!(reader.handle_key(t0, '#'), Some(AnswerOutcome::Answered(3)));
}
