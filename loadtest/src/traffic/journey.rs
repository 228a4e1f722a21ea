//! What each caller wants and does: a [`Journey`] drawn from a
//! [`JourneyMix`], and the caller's reply to each prompt of the 012 flow
//! ([`Journey::reply`]).
//!
//! Owns the caller model: language, topic, self-service or operator,
//! patience in the queue, callback or message when nobody can answer,
//! survey answers, DTMF method, talk time. Must never know how the call is
//! carried: the simulated year feeds the replies to the interpreter, the
//! live generator turns them into RFC 4733, SIP INFO or in-band tones after
//! the prompt it heard. Replies are keyed by prompt ids (`main-menu`,
//! `info-options`...), the ids of `prompts/<language>/`, not by node names,
//! so that a caller that only hears audio can follow them too.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::dist::{DurationDist, chance, mean_index, pick};

/// A prompt language of the 012 line, in the order of its language menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Ca,
    Es,
    En,
    Oc,
}

impl Language {
    pub const ALL: [Language; 4] = [Language::Ca, Language::Es, Language::En, Language::Oc];

    pub fn code(self) -> &'static str {
        match self {
            Language::Ca => "ca",
            Language::Es => "es",
            Language::En => "en",
            Language::Oc => "oc",
        }
    }

    /// Its key in the `choose-language` menu.
    pub fn key(self) -> char {
        match self {
            Language::Ca => '1',
            Language::Es => '2',
            Language::En => '3',
            Language::Oc => '4',
        }
    }
}

/// A topic of the main menu; `Other` is its operator option (6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Procedures,
    Health,
    Education,
    Work,
    Transport,
    Other,
}

impl Topic {
    pub const ALL: [Topic; 6] = [Topic::Procedures, Topic::Health, Topic::Education, Topic::Work, Topic::Transport, Topic::Other];

    /// The `topic` variable the dialplan sets.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Procedures => "procedures",
            Topic::Health => "health",
            Topic::Education => "education",
            Topic::Work => "work",
            Topic::Transport => "transport",
            Topic::Other => "other",
        }
    }

    pub fn key(self) -> char {
        match self {
            Topic::Procedures => '1',
            Topic::Health => '2',
            Topic::Education => '3',
            Topic::Work => '4',
            Topic::Transport => '5',
            Topic::Other => '6',
        }
    }

    /// The self-service information prompt (none for `Other`).
    pub fn info_prompt(self) -> Option<&'static str> {
        match self {
            Topic::Procedures => Some("info-procedures"),
            Topic::Health => Some("info-health"),
            Topic::Education => Some("info-education"),
            Topic::Work => Some("info-work"),
            Topic::Transport => Some("info-transport"),
            Topic::Other => None,
        }
    }
}

/// What the caller came for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Hears the topic's information, maybe twice, and hangs up.
    SelfService,
    /// Wants an operator: by the topic's "2" after its information, or by
    /// the main menu's "6" (topic other).
    Operator,
    /// Hangs up in the IVR before choosing anything (`abandon_after`).
    AbandonInIvr,
    /// Presses nothing: Catalan by default, then the main menu's retries
    /// put them through to an operator.
    NoInput,
}

/// What the caller does when offered a callback or a message (out of hours,
/// or after the queue's maximum wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactChoice {
    /// A callback to the number they call from ("1", then "1").
    Callback,
    /// A message ("2"), ended with "#".
    Message,
    /// "3": goodbye.
    Goodbye,
    /// Hangs up.
    HangUp,
}

/// How the caller's keys travel (the simulated year only counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfMethod {
    Rfc4733,
    SipInfo,
    Inband,
}

/// The three survey questions of the 012 flow, in order, by prompt id.
pub const SURVEY_PROMPTS: [&str; 3] = ["survey-overall", "survey-resolved", "survey-operator"];

/// One caller's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    pub language: Language,
    pub topic: Topic,
    pub intent: Intent,
    /// Self-service: hears the information a second time ("1") first.
    pub hear_again: bool,
    /// `AbandonInIvr`: hangs up this long after the call starts.
    pub abandon_after: Duration,
    /// How long they wait in the queue before hanging up.
    pub patience: Duration,
    /// Presses the queue's callback key after waiting this long.
    pub callback_in_queue_after: Option<Duration>,
    pub contact_choice: ContactChoice,
    pub message_length: Duration,
    /// Answers to the three questions (`None`: no valid answer, left to
    /// time out); the whole survey `None`: hangs up when the operator does.
    pub survey: Option<[Option<u8>; 3]>,
    /// Talk time with the operator (the agent hangs up after it).
    pub talk: Duration,
    pub dtmf: DtmfMethod,
    /// Delay between the end of a prompt and the first key.
    pub think: Duration,
}

/// Up to four keys pressed in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    keys: [char; 4],
    len: u8,
}

impl Keys {
    pub fn one(key: char) -> Keys {
        Keys { keys: [key, '\0', '\0', '\0'], len: 1 }
    }

    /// A survey score and '#': "9#", "10#".
    pub fn score(value: u8) -> Keys {
        let value = value.min(10);
        if value == 10 {
            Keys { keys: ['1', '0', '#', '\0'], len: 3 }
        } else {
            Keys { keys: [char::from(b'0' + value), '#', '\0', '\0'], len: 2 }
        }
    }

    pub fn as_slice(&self) -> &[char] {
        &self.keys[..usize::from(self.len)]
    }
}

/// The caller's answer to a prompt that has just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Press(Keys),
    /// Say nothing: let the menu time out.
    Wait,
    HangUp,
}

/// What a caller remembers during the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JourneyState {
    info_heard: u8,
}

impl Journey {
    /// The reply to the prompt `prompt` (an id without its language) that
    /// has just ended while the flow waits for keys.
    pub fn reply(&self, state: &mut JourneyState, prompt: &str) -> Reply {
        let wants_operator = matches!(self.intent, Intent::Operator);
        match prompt {
            "choose-language" => match self.intent {
                Intent::NoInput => Reply::Wait,
                _ => Reply::Press(Keys::one(self.language.key())),
            },
            "main-menu" | "no-input" | "invalid" => match self.intent {
                Intent::NoInput | Intent::AbandonInIvr => Reply::Wait,
                Intent::SelfService | Intent::Operator if state.info_heard > 0 => Reply::HangUp,
                Intent::SelfService | Intent::Operator => Reply::Press(Keys::one(self.topic.key())),
            },
            "info-options" => {
                state.info_heard += 1;
                if wants_operator {
                    Reply::Press(Keys::one('2'))
                } else if self.hear_again && state.info_heard == 1 {
                    Reply::Press(Keys::one('1'))
                } else {
                    Reply::HangUp
                }
            }
            "contact-options" => match self.contact_choice {
                ContactChoice::Callback => Reply::Press(Keys::one('1')),
                ContactChoice::Message => Reply::Press(Keys::one('2')),
                ContactChoice::Goodbye => Reply::Press(Keys::one('3')),
                ContactChoice::HangUp => Reply::HangUp,
            },
            // "1": the number I am calling from.
            "callback-offer" => Reply::Press(Keys::one('1')),
            // By the question's prompt, not by a count: a question left
            // unanswered is asked again with the same prompt.
            p if let Some(question) = SURVEY_PROMPTS.iter().position(|q| *q == p) => {
                match self.survey.as_ref().and_then(|answers| answers.get(question).copied()) {
                    Some(Some(value)) => Reply::Press(Keys::score(value)),
                    Some(None) => Reply::Wait,
                    None => Reply::HangUp,
                }
            }
            // Anything this model does not know: leave rather than loop.
            _ => Reply::HangUp,
        }
    }
}

/// The shares journeys are drawn from. Every weight list is relative (it
/// need not sum to 1), and a weight of 0 means never drawn; probabilities
/// are 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyMix {
    /// ca, es, en, oc.
    pub languages: [f64; 4],
    /// procedures, health, education, work, transport, other. A
    /// self-service caller asks about one of the first five (those with
    /// information), by their weights here.
    pub topics: [f64; 6],
    /// The topics of callers who want an operator, when they differ from
    /// `topics` (None: the same). `[0, 0, 0, 0, 0, 1]` sends every one of
    /// them to the main menu's operator key ("other") while self-service
    /// callers keep the topics of `topics`. A list with no weight above 0
    /// counts as None.
    #[serde(default)]
    pub operator_topics: Option<[f64; 6]>,
    /// self-service, operator, abandon in IVR, no input.
    pub intents: [f64; 4],
    /// Self-service callers who hear the information twice.
    pub hear_again: f64,
    pub abandon_in_ivr_after: DurationDist,
    pub patience: DurationDist,
    /// Queued callers who press the callback key if still waiting after
    /// `callback_after`.
    pub callback_in_queue: f64,
    pub callback_after: DurationDist,
    /// callback, message, goodbye, hang up.
    pub contact_choices: [f64; 4],
    pub message_length: DurationDist,
    /// Answered callers who take the survey.
    pub survey_participation: f64,
    /// Weights of the scores 0..=10 (mean about 8.5).
    pub survey_scores: [f64; 11],
    /// A question left unanswered (times out).
    pub survey_skip: f64,
    pub talk: DurationDist,
    /// RFC 4733, SIP INFO, in-band.
    pub dtmf_methods: [f64; 3],
    pub think: DurationDist,
}

impl Default for JourneyMix {
    /// The 012 line as the operators describe it: mostly Catalan and
    /// Spanish, half the callers served by the IVR, talk around three and a
    /// half minutes, satisfaction about 8.5.
    fn default() -> JourneyMix {
        JourneyMix {
            languages: [0.55, 0.38, 0.05, 0.02],
            topics: [0.30, 0.24, 0.15, 0.12, 0.11, 0.08],
            operator_topics: None,
            intents: [0.50, 0.42, 0.05, 0.03],
            hear_again: 0.10,
            abandon_in_ivr_after: DurationDist::Uniform { min_secs: 3.0, max_secs: 40.0 },
            patience: DurationDist::Exponential { mean_secs: 180.0 },
            callback_in_queue: 0.05,
            callback_after: DurationDist::Uniform { min_secs: 60.0, max_secs: 180.0 },
            contact_choices: [0.35, 0.20, 0.20, 0.25],
            message_length: DurationDist::Uniform { min_secs: 10.0, max_secs: 60.0 },
            survey_participation: 0.65,
            survey_scores: [0.8, 0.4, 0.6, 1.0, 1.2, 3.0, 3.5, 8.0, 20.0, 25.5, 36.0],
            survey_skip: 0.04,
            talk: DurationDist::LogNormal { median_secs: 180.0, sigma: 0.55 },
            dtmf_methods: [0.85, 0.05, 0.10],
            think: DurationDist::Uniform { min_secs: 0.8, max_secs: 3.0 },
        }
    }
}

impl JourneyMix {
    /// Draws one caller.
    pub fn draw(&self, rng: &mut fastrand::Rng) -> Journey {
        let intent = [Intent::SelfService, Intent::Operator, Intent::AbandonInIvr, Intent::NoInput][pick(rng, &self.intents)];
        let topics = match self.operator_topics {
            Some(weights) if intent == Intent::Operator && weights.iter().any(|w| w.is_finite() && *w > 0.0) => weights,
            _ => self.topics,
        };
        let mut topic = Topic::ALL[pick(rng, &topics)];
        // "Other" has no information: a self-service caller asks about
        // one of the five topics.
        if intent == Intent::SelfService && topic == Topic::Other {
            topic = Topic::ALL[pick(rng, &self.topics[..5])];
        }
        let survey = chance(rng, self.survey_participation).then(|| {
            std::array::from_fn(|_| (!chance(rng, self.survey_skip)).then(|| pick(rng, &self.survey_scores) as u8))
        });
        Journey {
            language: Language::ALL[pick(rng, &self.languages)],
            topic,
            intent,
            hear_again: chance(rng, self.hear_again),
            abandon_after: self.abandon_in_ivr_after.sample(rng),
            patience: self.patience.sample(rng),
            callback_in_queue_after: chance(rng, self.callback_in_queue).then(|| self.callback_after.sample(rng)),
            contact_choice: [ContactChoice::Callback, ContactChoice::Message, ContactChoice::Goodbye, ContactChoice::HangUp]
                [pick(rng, &self.contact_choices)],
            message_length: self.message_length.sample(rng),
            survey,
            talk: self.talk.sample(rng),
            dtmf: [DtmfMethod::Rfc4733, DtmfMethod::SipInfo, DtmfMethod::Inband][pick(rng, &self.dtmf_methods)],
            think: self.think.sample(rng),
        }
    }

    /// The mean survey score the mix is built for.
    pub fn mean_score(&self) -> f64 {
        mean_index(&self.survey_scores)
    }

    /// The share of callers who ask for an operator (directly, or by
    /// pressing nothing).
    pub fn operator_share(&self) -> f64 {
        let total: f64 = self.intents.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        (self.intents[1] + self.intents[3]) / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_of_weight_zero_is_never_drawn_and_operator_callers_may_have_topics_of_their_own() {
        let mut mix = JourneyMix::default();
        mix.topics[Topic::Health as usize] = 0.0;
        mix.operator_topics = Some([0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let mut rng = fastrand::Rng::with_seed(3);
        let mut self_service = std::collections::BTreeMap::new();
        for _ in 0..20_000 {
            let journey = mix.draw(&mut rng);
            assert_ne!(journey.topic, Topic::Health, "weight 0: never");
            match journey.intent {
                Intent::Operator => assert_eq!(journey.topic, Topic::Other, "the operator callers' own topics"),
                Intent::SelfService => *self_service.entry(journey.topic.key()).or_insert(0u32) += 1,
                Intent::AbandonInIvr | Intent::NoInput => {}
            }
        }
        // The other four information topics, in the line's proportions
        // (procedures 0.30 of 0.68).
        assert_eq!(self_service.keys().collect::<String>(), "1345", "{self_service:?}");
        let total: u32 = self_service.values().sum();
        let procedures = f64::from(self_service[&'1']) / f64::from(total);
        assert!((procedures - 0.30 / 0.68).abs() < 0.02, "{procedures}");
    }

    #[test]
    fn operator_topics_with_no_weight_above_zero_are_the_same_as_none() {
        // Both draw from `topics`, with the same random numbers.
        let mix = JourneyMix::default();
        let zeroed = JourneyMix { operator_topics: Some([0.0; 6]), ..JourneyMix::default() };
        let (mut a, mut b) = (fastrand::Rng::with_seed(9), fastrand::Rng::with_seed(9));
        for _ in 0..1_000 {
            assert_eq!(mix.draw(&mut a), zeroed.draw(&mut b));
        }
    }
}
