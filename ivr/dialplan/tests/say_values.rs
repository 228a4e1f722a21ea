//! Spoken values in each language of the line: which pieces say a number,
//! a digit string, a waiting time or a clock time, what the caller hears
//! (the pieces' texts from `prompts/<language>/say.toml`), and that every
//! piece `say` can return is listed by `pieces` and has a text.

use std::collections::{BTreeMap, BTreeSet};

use ivr_dialplan::program::SayKind;
use ivr_dialplan::say::{LANGUAGES, MAX_NUMBER, SayError, pieces, say};

const KINDS: [SayKind; 4] = [SayKind::Number, SayKind::Digits, SayKind::Duration, SayKind::Time];

/// The `[prompts]` table of `prompts/<language>/say.toml`.
fn manifest(language: &str) -> BTreeMap<String, String> {
    let path = format!("{}/../../prompts/{language}/say.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let prompts = table.get("prompts").and_then(|p| p.as_table()).unwrap_or_else(|| panic!("{path}: no [prompts]"));
    prompts
        .iter()
        .map(|(id, text)| {
            let text = text.as_str().unwrap_or_else(|| panic!("{path}: `{id}` is not a text"));
            (id.clone(), text.to_owned())
        })
        .collect()
}

fn ids(language: &str, kind: SayKind, value: &str) -> Vec<String> {
    say(language, kind, value).unwrap_or_else(|e| panic!("{language} {kind:?} {value}: {e}"))
}

/// What the caller hears: the pieces' texts joined by spaces.
fn spoken(language: &str, kind: SayKind, value: &str) -> String {
    let texts = manifest(language);
    ids(language, kind, value)
        .iter()
        .map(|id| texts.get(id).unwrap_or_else(|| panic!("{language}: no text for `{id}`")).as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_spoken(language: &str, kind: SayKind, table: &[(&str, &str)]) {
    for (value, expected) in table {
        assert_eq!(spoken(language, kind, value), *expected, "{language} {kind:?} {value}");
    }
}

// --- Numbers ---------------------------------------------------------------

#[test]
fn catalan_numbers() {
    check_spoken(
        "ca",
        SayKind::Number,
        &[
            ("0", "zero"),
            ("1", "u"),
            ("3", "tres"),
            ("17", "disset"),
            ("21", "vint-i-u"),
            ("34", "trenta-quatre"),
            ("100", "cent"),
            ("105", "cent cinc"),
            ("200", "dos-cents"),
            ("999", "nou-cents noranta-nou"),
            ("1000", "mil"),
            ("1001", "mil u"),
            ("2021", "dos mil vint-i-u"),
            ("9999", "nou mil nou-cents noranta-nou"),
            ("007", "set"),
        ],
    );
    assert_eq!(ids("ca", SayKind::Number, "21"), ["num-21"]);
    assert_eq!(ids("ca", SayKind::Number, "2105"), ["num-2", "num-1000", "num-100", "num-5"]);
}

#[test]
fn spanish_numbers() {
    check_spoken(
        "es",
        SayKind::Number,
        &[
            ("0", "cero"),
            ("1", "uno"),
            ("16", "dieciséis"),
            ("21", "veintiuno"),
            ("22", "veintidós"),
            ("31", "treinta y uno"),
            ("100", "cien"),
            ("101", "ciento uno"),
            ("115", "ciento quince"),
            ("500", "quinientos"),
            ("777", "setecientos setenta y siete"),
            ("1000", "mil"),
            ("1100", "mil cien"),
            ("2026", "dos mil veintiséis"),
        ],
    );
    assert_eq!(ids("es", SayKind::Number, "101"), ["num-1xx", "num-1"]);
}

#[test]
fn english_numbers() {
    check_spoken(
        "en",
        SayKind::Number,
        &[
            ("0", "zero"),
            ("12", "twelve"),
            ("21", "twenty-one"),
            ("100", "one hundred"),
            ("105", "one hundred and five"),
            ("1000", "one thousand"),
            ("2005", "two thousand and five"),
            ("1215", "one thousand two hundred and fifteen"),
        ],
    );
    assert_eq!(ids("en", SayKind::Number, "105"), ["num-100", "num-and", "num-5"]);
}

#[test]
fn aranese_numbers() {
    check_spoken(
        "oc",
        SayKind::Number,
        &[
            ("1", "un"),
            ("4", "quate"),
            ("17", "dètz-e-sèt"),
            ("21", "vint-e-un"),
            ("200", "dus-cents"),
            ("2026", "dus mil vint-e-sies"),
        ],
    );
}

#[test]
fn numbers_out_of_range_or_not_numbers_are_refused() {
    for value in ["10000", "", "-1", "3.5", " 3", "३", "99999999999999999999"] {
        assert_eq!(
            say("ca", SayKind::Number, value),
            Err(SayError::InvalidValue { kind: SayKind::Number, value: value.to_owned() }),
            "{value:?}"
        );
    }
    assert_eq!(ids("ca", SayKind::Number, &MAX_NUMBER.to_string()).len(), 4);
}

// --- Digits ----------------------------------------------------------------

#[test]
fn digits_are_said_one_by_one_with_the_existing_prompts() {
    assert_eq!(
        ids("es", SayKind::Digits, "08001*#"),
        ["digit-0", "digit-8", "digit-0", "digit-0", "digit-1", "digit-star", "digit-hash"]
    );
    check_spoken("ca", SayKind::Digits, &[("0121", "zero u dos u"), ("*#", "asterisc coixinet")]);
    check_spoken("en", SayKind::Digits, &[("93", "nine three")]);
    for value in ["", "12a", "+34", "1 2"] {
        assert!(say("ca", SayKind::Digits, value).is_err(), "{value:?}");
    }
}

// --- Durations -------------------------------------------------------------

#[test]
fn waiting_times_round_to_the_nearest_minute() {
    check_spoken(
        "ca",
        SayKind::Duration,
        &[
            ("0", "menys d'un minut"),
            ("59", "menys d'un minut"),
            ("60", "aproximadament un minut"),
            ("89", "aproximadament un minut"),
            ("90", "uns dos minuts"),
            ("240", "uns quatre minuts"),
            ("1260", "uns vint-i-un minuts"),
            ("6060", "uns cent un minuts"),
        ],
    );
    check_spoken(
        "es",
        SayKind::Duration,
        &[
            ("30", "menos de un minuto"),
            ("60", "aproximadamente un minuto"),
            ("240", "unos cuatro minutos"),
            ("1260", "unos veintiún minutos"),
            ("1860", "unos treinta y un minutos"),
            ("6060", "unos ciento un minutos"),
        ],
    );
    check_spoken(
        "en",
        SayKind::Duration,
        &[
            ("10", "less than a minute"),
            ("75", "about one minute"),
            ("240", "about four minutes"),
            ("1260", "about twenty-one minutes"),
        ],
    );
    check_spoken(
        "oc",
        SayKind::Duration,
        &[("240", "aproximadament quate minuts"), ("1260", "aproximadament vint-e-un minuts")],
    );
    assert_eq!(ids("ca", SayKind::Duration, "1260"), ["duration-about", "num-21-m", "duration-minutes"]);
}

#[test]
fn durations_must_be_whole_seconds_within_range() {
    for value in ["", "-60", "1.5", "600000", "abc"] {
        assert_eq!(
            say("en", SayKind::Duration, value),
            Err(SayError::InvalidValue { kind: SayKind::Duration, value: value.to_owned() }),
            "{value:?}"
        );
    }
}

// --- Clock times -----------------------------------------------------------

#[test]
fn catalan_times_use_the_24_hour_clock_and_feminine_hours() {
    check_spoken(
        "ca",
        SayKind::Time,
        &[
            ("07:00", "a les set"),
            ("7:00", "a les set"),
            ("01:00", "a la una"),
            ("02:00", "a les dues"),
            ("15:30", "a les quinze i trenta"),
            ("21:00", "a les vint-i-una"),
            ("22:45", "a les vint-i-dues i quaranta-cinc"),
            ("23:00", "a les vint-i-tres"),
            ("00:00", "a mitjanit"),
            ("00:30", "a les zero i trenta"),
        ],
    );
    assert_eq!(ids("ca", SayKind::Time, "01:00"), ["time-at-1", "num-1-f"]);
}

#[test]
fn spanish_and_aranese_times() {
    check_spoken(
        "es",
        SayKind::Time,
        &[
            ("07:00", "a las siete"),
            ("01:15", "a la una y quince"),
            ("21:00", "a las veintiuna"),
            ("23:00", "a las veintitrés"),
            ("00:00", "a medianoche"),
        ],
    );
    check_spoken(
        "oc",
        SayKind::Time,
        &[("07:00", "ares sèt"), ("01:00", "ara ua"), ("22:30", "ares vint-e-dues e trenta")],
    );
}

#[test]
fn english_times_use_the_12_hour_clock() {
    check_spoken(
        "en",
        SayKind::Time,
        &[
            ("07:00", "at seven a.m."),
            ("07:05", "at seven oh five a.m."),
            ("11:30", "at eleven thirty a.m."),
            ("12:00", "at noon"),
            ("12:45", "at twelve forty-five p.m."),
            ("23:00", "at eleven p.m."),
            ("00:00", "at midnight"),
            ("00:20", "at twelve twenty a.m."),
        ],
    );
}

#[test]
fn times_must_be_hh_mm_within_a_day() {
    for value in ["24:00", "7", "07:5", "07:60", "123:00", "07:00:00", "", "-1:00"] {
        assert!(say("es", SayKind::Time, value).is_err(), "{value:?}");
    }
}

#[test]
fn unknown_languages_are_refused() {
    assert_eq!(say("fr", SayKind::Number, "3"), Err(SayError::UnknownLanguage("fr".to_owned())));
    assert_eq!(pieces("fr", SayKind::Digits), Err(SayError::UnknownLanguage("fr".to_owned())));
}

// --- Pieces and manifests --------------------------------------------------

/// Every value a kind can say (numbers and minutes up to MAX_NUMBER, every
/// minute of the day, every key).
fn every_value(kind: SayKind) -> Vec<String> {
    match kind {
        SayKind::Number => (0..=MAX_NUMBER).map(|n| n.to_string()).collect(),
        SayKind::Digits => "0123456789*#".chars().map(String::from).collect(),
        SayKind::Duration => {
            let mut v: Vec<String> = (0..=MAX_NUMBER).map(|m| (m * 60).to_string()).collect();
            v.push("59".to_owned());
            v
        }
        SayKind::Time => (0..24).flat_map(|h| (0..60).map(move |m| format!("{h:02}:{m:02}"))).collect(),
    }
}

#[test]
fn pieces_lists_exactly_what_say_can_return() {
    for language in LANGUAGES {
        for kind in KINDS {
            let listed: BTreeSet<String> = pieces(language, kind).expect("known language").into_iter().collect();
            let used: BTreeSet<String> =
                every_value(kind).iter().flat_map(|value| ids(language, kind, value)).collect();
            let unlisted: Vec<_> = used.difference(&listed).collect();
            let unused: Vec<_> = listed.difference(&used).collect();
            assert!(unlisted.is_empty(), "{language} {kind:?}: said but not listed: {unlisted:?}");
            assert!(unused.is_empty(), "{language} {kind:?}: listed but never said: {unused:?}");
        }
    }
}

#[test]
fn every_piece_has_a_text_in_its_language_and_no_text_is_stale() {
    for language in LANGUAGES {
        let texts = manifest(language);
        let all: BTreeSet<String> =
            KINDS.iter().flat_map(|kind| pieces(language, *kind).expect("known language")).collect();
        for id in &all {
            let text = texts.get(id).unwrap_or_else(|| panic!("prompts/{language}/say.toml has no `{id}`"));
            assert!(!text.trim().is_empty(), "{language} {id}: empty text");
        }
        for id in texts.keys() {
            assert!(all.contains(id), "prompts/{language}/say.toml: `{id}` is not a piece `say` uses");
        }
    }
}

proptest::proptest! {
    /// Any value, in any kind and language, is said with listed pieces or
    /// refused: never a panic.
    #[test]
    fn any_value_is_said_with_listed_pieces_or_refused(value in "[0-9:*#a -]{0,12}", language in 0usize..5, kind in 0usize..4) {
        let language = ["ca", "es", "en", "oc", "xx"][language];
        let kind = KINDS[kind];
        match say(language, kind, &value) {
            Ok(said) => {
                let listed = pieces(language, kind).expect("a language that said something is known");
                proptest::prop_assert!(!said.is_empty());
                proptest::prop_assert!(said.iter().all(|id| listed.contains(id)), "{said:?}");
            }
            Err(SayError::UnknownLanguage(l)) => proptest::prop_assert_eq!(l, "xx"),
            Err(SayError::InvalidValue { kind: k, value: v }) => {
                proptest::prop_assert_eq!(k, kind);
                proptest::prop_assert_eq!(v, value);
            }
        }
    }
}
