//! Spoken values built from recorded pieces: numbers, digit strings,
//! durations and clock times, in each language the line speaks
//! (ca, es, en, oc).
//!
//! Owns: which pieces say a value, in which order, in each language's
//! grammar; and the full list of pieces each kind may need ([`pieces`]),
//! which `ivr check` verifies exist. The text of each piece lives in
//! `prompts/<language>/say.toml` (the tests check that every piece has one).
//!
//! Must never do IO or panic on any value (values come from callers'
//! digits and variables).
//!
//! The piece scheme, the same in every language so that one list of ids
//! serves all of them:
//! - `num-0` .. `num-99`: each number under a hundred as one word, as said
//!   on its own ("vint-i-u", "veintiuno", "twenty one", "vint-e-un");
//! - `num-N-m`: the form before a masculine noun where it differs
//!   ("vint-i-un minuts", "veintiún minutos");
//! - `num-N-f`: the feminine form for hours ("a les dues", "a la una");
//! - `num-100` .. `num-900`: the hundreds ("cent", "dos-cents", "cien",
//!   "quinientos", "one hundred"); Spanish adds `num-1xx` ("ciento");
//! - `num-1000` ("mil"), or in English `num-thousand` after the multiplier
//!   and `num-and` ("one hundred and five");
//! - `digit-0` .. `digit-9`, `digit-star`, `digit-hash`;
//! - `duration-*` and `time-*` for the words around durations and times.

use crate::program::SayKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SayError {
    #[error("no spoken pieces for language `{0}`")]
    UnknownLanguage(String),
    #[error("`{value}` cannot be said as {kind:?}")]
    InvalidValue { kind: SayKind, value: String },
}

/// The largest number said as [`SayKind::Number`], and the largest count of
/// minutes said as a [`SayKind::Duration`].
pub const MAX_NUMBER: u32 = 9999;

/// The languages that have pieces.
pub const LANGUAGES: [&str; 4] = ["ca", "es", "en", "oc"];

/// How a language builds numbers of a hundred and more, and tells the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Catalan, Spanish, Aranese: "dos mil cent cinc", 24-hour clock
    /// "a les vint-i-tres i trenta".
    Romance,
    /// "two thousand one hundred and five", 12-hour clock "at eleven thirty p m".
    English,
}

struct Grammar {
    code: &'static str,
    style: Style,
    /// Numbers under 100 with a distinct form before a masculine noun.
    masculine: &'static [u32],
    /// Hours (0..=23) with a distinct feminine form.
    feminine: &'static [u32],
    /// Spanish: "cien" alone but "ciento" before the tens (`num-1xx`).
    ciento: bool,
}

const UNITS_ENDING_IN_ONE: &[u32] = &[1, 21, 31, 41, 51, 61, 71, 81, 91];

const GRAMMARS: [Grammar; 4] = [
    Grammar {
        code: "ca",
        style: Style::Romance,
        masculine: UNITS_ENDING_IN_ONE,
        feminine: &[1, 2, 21, 22],
        ciento: false,
    },
    Grammar { code: "es", style: Style::Romance, masculine: UNITS_ENDING_IN_ONE, feminine: &[1, 21], ciento: true },
    Grammar { code: "en", style: Style::English, masculine: &[], feminine: &[], ciento: false },
    // Aranese says "un" both alone and before a noun.
    Grammar { code: "oc", style: Style::Romance, masculine: &[], feminine: &[1, 2, 21, 22], ciento: false },
];

/// Which form of a number under a hundred to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Alone,
    Masculine,
    Feminine,
}

fn grammar(language: &str) -> Result<&'static Grammar, SayError> {
    GRAMMARS.iter().find(|g| g.code == language).ok_or_else(|| SayError::UnknownLanguage(language.to_owned()))
}

/// The prompt ids (without the language prefix) that say `value` as `kind`
/// in `language`, in playing order. Example: ("ca", Number, "21") ->
/// ["num-21"] ("vint-i-u"); ("en", Number, "105") -> ["num-100", "num-and",
/// "num-5"]. See [`pieces`] for the full set.
pub fn say(language: &str, kind: SayKind, value: &str) -> Result<Vec<String>, SayError> {
    let g = grammar(language)?;
    let invalid = || SayError::InvalidValue { kind, value: value.to_owned() };
    match kind {
        SayKind::Number => {
            let n = parse_number(value).filter(|n| *n <= MAX_NUMBER).ok_or_else(invalid)?;
            Ok(cardinal(g, n, Form::Alone))
        }
        SayKind::Digits => digits(value).ok_or_else(invalid),
        SayKind::Duration => {
            let seconds = parse_number(value).ok_or_else(invalid)?;
            duration(g, seconds).ok_or_else(invalid)
        }
        SayKind::Time => {
            let (hour, minute) = parse_time(value).ok_or_else(invalid)?;
            Ok(time(g, hour, minute))
        }
    }
}

/// Every piece id `say` may return for `kind` in `language`: `ivr check`
/// verifies they all exist as prompts when a dialplan uses that kind.
pub fn pieces(language: &str, kind: SayKind) -> Result<Vec<String>, SayError> {
    let g = grammar(language)?;
    let mut out: Vec<String> = match kind {
        SayKind::Number => number_pieces(g),
        SayKind::Digits => "0123456789*#".chars().filter_map(digit_piece).collect(),
        SayKind::Duration => {
            // Two minutes and more: every number piece but zero, with the
            // masculine forms in place of the plain ones they replace.
            let mut out: Vec<String> = number_pieces(g)
                .into_iter()
                .filter(|p| p != "num-0" && !g.masculine.iter().any(|n| *p == num(*n)))
                .collect();
            out.extend(g.masculine.iter().map(|n| format!("num-{n}-m")));
            out.extend(
                ["duration-under-a-minute", "duration-one-minute", "duration-about", "duration-minutes"]
                    .map(String::from),
            );
            out
        }
        SayKind::Time => {
            let words: &[&str] = match g.style {
                Style::Romance => &["time-midnight", "time-at", "time-at-1", "time-and"],
                Style::English => &["time-midnight", "time-noon", "time-at", "time-oh", "time-am", "time-pm"],
            };
            let first = match g.style {
                Style::Romance => 0,
                Style::English => 1,
            };
            let mut out: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
            out.extend((first..60).map(num));
            out.extend(g.feminine.iter().map(|n| format!("num-{n}-f")));
            out
        }
    };
    out.sort();
    out.dedup();
    Ok(out)
}

fn num(n: u32) -> String {
    format!("num-{n}")
}

fn number_pieces(g: &Grammar) -> Vec<String> {
    let mut out: Vec<String> = (0..100).map(num).collect();
    out.extend((1..10).map(|h| num(h * 100)));
    match g.style {
        Style::Romance => out.push(num(1000)),
        Style::English => out.extend(["num-thousand".to_owned(), "num-and".to_owned()]),
    }
    if g.ciento {
        out.push("num-1xx".to_owned());
    }
    out
}

/// A number under a hundred in the given form.
fn under_hundred(g: &Grammar, n: u32, form: Form) -> String {
    let distinct = match form {
        Form::Alone => false,
        Form::Masculine => g.masculine.contains(&n),
        Form::Feminine => g.feminine.contains(&n),
    };
    match (distinct, form) {
        (true, Form::Masculine) => format!("num-{n}-m"),
        (true, Form::Feminine) => format!("num-{n}-f"),
        _ => num(n),
    }
}

/// 0..=9999 in words; `form` applies to the last group, the one next to
/// the noun ("dos mil vint-i-un minuts").
fn cardinal(g: &Grammar, n: u32, form: Form) -> Vec<String> {
    if n == 0 {
        return vec![num(0)];
    }
    let (thousands, hundreds, rest) = (n / 1000, n / 100 % 10, n % 100);
    let mut out = Vec::new();
    match g.style {
        Style::Romance => {
            // "mil", never "un mil"; "dos mil".
            if thousands > 1 {
                out.push(num(thousands));
            }
            if thousands > 0 {
                out.push(num(1000));
            }
            if hundreds == 1 && rest > 0 && g.ciento {
                out.push("num-1xx".to_owned());
            } else if hundreds > 0 {
                out.push(num(hundreds * 100));
            }
        }
        Style::English => {
            if thousands > 0 {
                out.push(num(thousands));
                out.push("num-thousand".to_owned());
            }
            if hundreds > 0 {
                out.push(num(hundreds * 100));
            }
            if rest > 0 && n >= 100 {
                out.push("num-and".to_owned());
            }
        }
    }
    if rest > 0 {
        out.push(under_hundred(g, rest, form));
    }
    out
}

fn digit_piece(c: char) -> Option<String> {
    match c {
        '0'..='9' => Some(format!("digit-{c}")),
        '*' => Some("digit-star".to_owned()),
        '#' => Some("digit-hash".to_owned()),
        _ => None,
    }
}

fn digits(value: &str) -> Option<Vec<String>> {
    if value.is_empty() {
        return None;
    }
    value.chars().map(digit_piece).collect()
}

/// "Less than a minute", "about one minute", "about N minutes": a waiting
/// estimate rounded to the nearest minute.
fn duration(g: &Grammar, seconds: u32) -> Option<Vec<String>> {
    if seconds < 60 {
        return Some(vec!["duration-under-a-minute".to_owned()]);
    }
    let minutes = seconds / 60 + u32::from(seconds % 60 >= 30);
    if minutes > MAX_NUMBER {
        return None;
    }
    if minutes == 1 {
        return Some(vec!["duration-one-minute".to_owned()]);
    }
    let mut out = vec!["duration-about".to_owned()];
    out.extend(cardinal(g, minutes, Form::Masculine));
    out.push("duration-minutes".to_owned());
    Some(out)
}

/// The way the line announces a time: 24-hour in Catalan, Spanish and
/// Aranese ("a les set", "a les vint-i-tres i trenta"), 12-hour in English
/// ("at seven a m", "at eleven thirty p m").
fn time(g: &Grammar, hour: u32, minute: u32) -> Vec<String> {
    if hour == 0 && minute == 0 {
        return vec!["time-midnight".to_owned()];
    }
    let mut out = Vec::new();
    match g.style {
        Style::Romance => {
            out.push(if hour == 1 { "time-at-1" } else { "time-at" }.to_owned());
            out.push(under_hundred(g, hour, Form::Feminine));
            if minute > 0 {
                out.push("time-and".to_owned());
                out.push(num(minute));
            }
        }
        Style::English => {
            if hour == 12 && minute == 0 {
                return vec!["time-noon".to_owned()];
            }
            out.push("time-at".to_owned());
            out.push(num(if hour.is_multiple_of(12) { 12 } else { hour % 12 }));
            if minute > 0 {
                if minute < 10 {
                    out.push("time-oh".to_owned());
                }
                out.push(num(minute));
            }
            out.push(if hour < 12 { "time-am" } else { "time-pm" }.to_owned());
        }
    }
    out
}

/// ASCII decimal digits only (leading zeros allowed), up to u32.
fn parse_number(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// "HH:MM" or "H:MM", 00:00 to 23:59.
fn parse_time(value: &str) -> Option<(u32, u32)> {
    let (hour, minute) = value.split_once(':')?;
    if !(1..=2).contains(&hour.len()) || minute.len() != 2 {
        return None;
    }
    let (hour, minute) = (parse_number(hour)?, parse_number(minute)?);
    (hour < 24 && minute < 60).then_some((hour, minute))
}
