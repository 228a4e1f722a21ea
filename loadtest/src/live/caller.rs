//! One live caller's script through the 012 flow (dialplans/012.toml): what
//! it expects to hear next, when a prompt is over or may be interrupted,
//! which keys its [`Journey`] presses, when it gives up, and what record the
//! server should keep of it.
//!
//! Beside the menus, the queue and the survey, the script follows the
//! flow's contact options: a queued caller whose journey has
//! `callback_in_queue_after` presses the queue's callback key ("1") once it
//! has waited that long (scaled like patience), then "1" for its own number;
//! with the line closed ([`Line::Closed`]: the generator cannot read the
//! server's calendar, the run says it) an operator caller hears
//! `out-of-hours` and `contact-options` and replies by its
//! [`crate::traffic::ContactChoice`]: a callback, a message (spoken with the
//! stream's voice after the beep, ended with '#'), goodbye, or hang up.
//!
//! Owns the caller's decisions only. It never touches sockets, SIP or the
//! clock: the engine hands it `now`, what it heard, and the fact that the
//! call was answered, and carries out the [`Effects`] it returns (press keys,
//! hang up, wake me at, check this window of audio).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_store::Disposition;

use super::media::{FRAME, tone_share};
use super::prompts::{EXCERPT_SKIP, LEAD, PromptLibrary, PromptRef};
use crate::traffic::{DtmfMethod, Intent, Journey, JourneyState, Keys, Language, Reply, Topic};

/// The simulated operators' voice: a steady tone the callers listen for.
/// Not a DTMF frequency (the highest is 1633 Hz) nor a modem tone.
pub const OPERATOR_HZ: f64 = 1850.0;
/// How much of a menu prompt a caller hears before pressing its key (the
/// 012 menus allow barge-in): enough for the audio check.
const MENU_LISTEN: Duration = Duration::from_millis(2_500);
/// Margin after a prompt's length before the caller acts on its end.
const AFTER_PROMPT: Duration = Duration::from_millis(400);
/// Operator tone heard in this many frames in a row: connected.
const TONE_FRAMES: u32 = 5;
/// No operator tone for this many frames: the operator has gone.
const QUIET_FRAMES: u32 = 10;
/// A message lasts the journey's length scaled, within these bounds (long
/// enough for the server to hear speech, short enough for a bounded run).
const MESSAGE_MIN: Duration = Duration::from_secs(2);
const MESSAGE_MAX: Duration = Duration::from_secs(30);
/// After the goodbye, the server's BYE is due within this.
const BYE_WITHIN: Duration = Duration::from_secs(4);
/// A prompt not heard within twice its length and this: move on.
const STALL_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listen {
    Whole,
    Barge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Hear(&'static str, Listen),
    Reply(&'static str),
    /// The pause between hearing a menu's opening and pressing its key.
    Think,
    /// The topic's information was heard to its end (dialplan `*-served`).
    Served,
    Queue,
    /// Speaks (the stream's voice) after the message beep, then '#'.
    Speak,
    EndMessage,
    AwaitBye,
}

/// Whether the line's staffed calendar is open during the run: the flow's
/// `operator` node sends callers to the queue, or to `out-of-hours`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Line {
    #[default]
    Open,
    Closed,
}

impl std::str::FromStr for Line {
    type Err = String;

    fn from_str(text: &str) -> Result<Line, String> {
        match text {
            "open" => Ok(Line::Open),
            "closed" => Ok(Line::Closed),
            other => Err(format!("`{other}`: the line is `open` or `closed`")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ivr,
    Queue { since: Instant },
    Talking,
    Done,
}

/// What the engine must do for the caller.
#[derive(Debug, Default)]
pub struct Effects {
    pub press: Option<Keys>,
    pub hang_up: bool,
    /// A heard window to check against its prompt.
    pub check: Option<(Arc<PromptRef>, Vec<i16>)>,
}

/// One prompt check's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub prompt: String,
    pub score: f64,
}

/// Why a caller's call counts as failed, beside a missing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The script met a reply it cannot carry live (waiting on a menu).
    UnsupportedReply(String),
    /// The server did not hang up after its goodbye.
    NoByeAfterGoodbye,
    /// A check window was still open when the call ended (the prompt
    /// was cut short or never came).
    PromptCut(String),
    /// The server hung up before the flow's goodbye.
    UnexpectedBye,
}

struct Window {
    prompt: Arc<PromptRef>,
    samples: Vec<i16>,
    /// The prompt's first audible frame has arrived: the window fills
    /// from there (a server that starts a prompt late is followed).
    audible: bool,
    /// Where in `samples` the onset was heard.
    onset: usize,
    /// Samples to hear from the onset before the script moves on.
    listen: u64,
    /// Opened as our keys left: see [`AfterKey`].
    after_key: Option<AfterKey>,
}

/// A window opened as the caller's keys leave still hears, for a moment,
/// the prompt the keys interrupt: the server stops it only once a key has
/// arrived, and a loaded server then takes a while (silence) to start the
/// next prompt. So the onset is the first loud frame after a quiet one;
/// should no quiet frame come within [`AFTER_KEY_FRAMES`] (a server that
/// switched within one 20 ms slot), the first loud frame after those
/// (an in-band key takes the server 40 to 60 ms to hear).
/// Without this a slow server's next prompt was timed from the tail of the
/// interrupted menu: the caller moved on early and its check missed the
/// prompt.
#[derive(Debug, Clone, Copy, Default)]
struct AfterKey {
    frames: u32,
    quiet_seen: bool,
}

const AFTER_KEY_FRAMES: u32 = 8;

impl AfterKey {
    /// Whether this frame (`loud` or not) is the next prompt's onset.
    fn onset(&mut self, loud: bool) -> bool {
        self.frames += 1;
        if !loud {
            self.quiet_seen = true;
        }
        loud && (self.quiet_seen || self.frames > AFTER_KEY_FRAMES)
    }
}

/// A frame louder than this starts a prompt (G.711 idle is far below).
const ONSET_DBFS: f64 = -50.0;

pub struct Caller {
    pub number: String,
    pub journey: Journey,
    state: JourneyState,
    pub language: Language,
    steps: VecDeque<Step>,
    pub phase: Phase,
    due: Option<Instant>,
    /// Samples heard so far, and the count at which the current prompt
    /// is over (or heard enough of): prompts are timed on the media the
    /// server sends, not on the wall clock, so a late server is followed.
    heard_samples: u64,
    media_due: Option<u64>,
    abandon_at: Option<Instant>,
    /// Queued: when the caller presses the queue's callback key.
    callback_at: Option<Instant>,
    time_scale: f64,
    /// Open: operators are asked for in the queue; closed: out of hours.
    pub line: Line,
    /// Asked for an operator with the line closed (`out_of_hours`).
    pub out_of_hours: bool,
    /// Pressed the queue's callback key while waiting.
    pub queue_callback: bool,
    /// Pressed "1" (this number) at the callback offer.
    pub callback_requested: bool,
    /// Pressed the queue's callback key and then heard an operator: the key
    /// met a ringing phone (ignored, the offer wins) or crossed the answer.
    pub callback_key_met_operator: bool,
    /// Spoke a message after the beep and ended it with '#'.
    pub message_left: bool,
    recent: VecDeque<i16>,
    window: Option<Window>,
    tone_frames: u32,
    quiet_frames: u32,
    /// Keys pressed in order, as the record's path shows them.
    pub keys: Vec<(String, String)>,
    pub served: bool,
    pub queue_wait: Option<Duration>,
    pub talked: bool,
    /// Survey answers pressed (the keys may still be on their way).
    survey_pressed: u32,
    /// Survey answers the server has certainly taken: all those pressed
    /// once it hung up after its thanks and goodbye, which it plays only
    /// after the last answer. A call that ended any other way (the
    /// caller's own hang-up, the run's drain deadline) may have ended
    /// while an answer's keys were in flight, so it vouches for none.
    pub survey_answers: u32,
    pub heard: Vec<Heard>,
    pub problems: Vec<Problem>,
    pub checks_pending: u32,
    /// Whether this call's heard prompts are correlated (the engine draws
    /// it per call with the run's audio-check share). Unchecked calls are
    /// still timed on the media they hear and count loss and jitter.
    pub check_audio: bool,
    /// Keys were just pressed: the next window opens with [`AfterKey`].
    keys_leaving: bool,
}

impl Caller {
    /// `time_scale` shortens the journey's waits in the queue and in the
    /// IVR (patience, abandonment) for compressed runs; prompts and keys
    /// keep their real time.
    pub fn new(number: String, journey: Journey, time_scale: f64) -> Caller {
        Caller {
            number,
            journey,
            state: JourneyState::default(),
            language: Language::Ca,
            steps: VecDeque::new(),
            phase: Phase::Ivr,
            due: None,
            heard_samples: 0,
            media_due: None,
            abandon_at: None,
            callback_at: None,
            time_scale,
            line: Line::Open,
            out_of_hours: false,
            queue_callback: false,
            callback_requested: false,
            callback_key_met_operator: false,
            message_left: false,
            recent: VecDeque::with_capacity(LEAD),
            window: None,
            tone_frames: 0,
            quiet_frames: 0,
            keys: Vec::new(),
            served: false,
            queue_wait: None,
            talked: false,
            survey_pressed: 0,
            survey_answers: 0,
            heard: Vec::new(),
            problems: Vec::new(),
            checks_pending: 0,
            check_audio: true,
            keys_leaving: false,
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.time_scale.max(0.0))
    }

    /// When the engine must call [`Caller::wake`] next.
    pub fn next_wake(&self) -> Option<Instant> {
        let callback_at = self.callback_at.filter(|_| matches!(self.phase, Phase::Queue { .. }));
        [self.due, self.abandon_at, callback_at].into_iter().flatten().min()
    }

    /// The 200 OK arrived: the welcome plays (no barge-in), then the
    /// language menu, both from the Catalan folder.
    pub fn answered(&mut self, now: Instant, prompts: &PromptLibrary) -> Effects {
        if self.journey.intent == Intent::AbandonInIvr {
            self.abandon_at = Some(now + self.scaled(self.journey.abandon_after));
        }
        self.steps.extend([Step::Hear("welcome", Listen::Whole), Step::Hear("choose-language", Listen::Barge), Step::Reply("choose-language")]);
        self.advance(now, prompts)
    }

    pub fn wake(&mut self, now: Instant, prompts: &PromptLibrary) -> Effects {
        if self.phase == Phase::Done {
            return Effects::default();
        }
        if self.steps.front() == Some(&Step::AwaitBye) && self.due.is_some_and(|t| t <= now) {
            self.steps.clear();
            return self.hang_up();
        }
        if self.abandon_at.is_some_and(|t| t <= now) && matches!(self.phase, Phase::Ivr | Phase::Queue { .. }) {
            return self.hang_up();
        }
        if let Phase::Queue { since } = self.phase
            && self.callback_at.is_some_and(|t| t <= now && self.due.is_none_or(|d| t < d))
        {
            return self.press_queue_callback(now, since, prompts);
        }
        if let Phase::Queue { since } = self.phase
            && self.due.is_some_and(|t| t <= now)
        {
            // Patience ran out before an operator answered.
            self.queue_wait = Some(now - since);
            return self.hang_up();
        }
        if self.due.is_some_and(|t| t <= now) {
            self.due = None;
            self.media_due = None;
            return self.advance(now, prompts);
        }
        Effects::default()
    }

    /// Audio heard (decoded, 8 kHz) in one packet.
    pub fn audio(&mut self, now: Instant, samples: &[i16], prompts: &PromptLibrary) -> Effects {
        let mut effects = Effects::default();
        self.heard_samples += samples.len() as u64;
        for s in samples {
            if self.recent.len() == LEAD {
                self.recent.pop_front();
            }
            self.recent.push_back(*s);
        }
        if let Some(window) = self.window.as_mut() {
            let onset = !window.audible && {
                let loud = crate::audio::rms_dbfs(samples) > ONSET_DBFS;
                match window.after_key.as_mut() {
                    Some(after_key) => after_key.onset(loud),
                    None => loud,
                }
            };
            if onset {
                window.audible = true;
                window.onset = window.samples.len();
                // The prompt's own leading silence is behind us already.
                let spoken = window.listen.saturating_sub(window.prompt.silence as u64);
                self.media_due = Some(self.heard_samples - samples.len() as u64 + spoken);
            }
            window.samples.extend_from_slice(samples);
            if !window.audible && window.samples.len() > LEAD {
                let excess = window.samples.len() - LEAD;
                window.samples.drain(..excess);
            }
            if window.audible
                && window.samples.len() >= window.prompt.window()
                && let Some(w) = self.window.take()
            {
                effects.check = self.request_check(w);
            }
        }
        if samples.len() == FRAME {
            let share = tone_share(samples, OPERATOR_HZ);
            match self.phase {
                Phase::Queue { since } => {
                    self.tone_frames = if share > 0.5 { self.tone_frames + 1 } else { 0 };
                    if self.tone_frames >= TONE_FRAMES {
                        self.queue_wait = Some(now - since);
                        self.phase = Phase::Talking;
                        self.talked = true;
                        self.due = None;
                        self.abandon_at = None;
                        self.callback_at = None;
                        self.quiet_frames = 0;
                    }
                }
                Phase::Talking => {
                    self.quiet_frames = if share < 0.2 { self.quiet_frames + 1 } else { 0 };
                    if self.quiet_frames >= QUIET_FRAMES {
                        // The operator hung up: the survey, or goodbye.
                        self.phase = Phase::Ivr;
                        if self.journey.survey.is_none() {
                            let hang = self.hang_up();
                            return Effects { check: effects.check, ..hang };
                        }
                        self.steps.extend([
                            Step::Hear("survey-intro", Listen::Whole),
                            Step::Hear("survey-overall", Listen::Barge),
                            Step::Reply("survey-overall"),
                        ]);
                        let next = self.advance(now, prompts);
                        return Effects { check: effects.check.or(next.check), ..next };
                    }
                }
                // The callback key pressed while an operator's phone rang
                // for this caller is ignored by the server (the offer wins,
                // docs/queue.md): the operator's voice, instead of the
                // callback offer, means an answered call with its survey.
                Phase::Ivr if self.queue_callback && !self.callback_requested => {
                    self.tone_frames = if share > 0.5 { self.tone_frames + 1 } else { 0 };
                    if self.tone_frames >= TONE_FRAMES {
                        self.queue_callback = false;
                        self.callback_key_met_operator = true;
                        self.steps.clear();
                        self.window = None;
                        self.media_due = None;
                        self.phase = Phase::Talking;
                        self.talked = true;
                        self.due = None;
                        self.quiet_frames = 0;
                        return effects;
                    }
                }
                Phase::Ivr | Phase::Done => {}
            }
        }
        if self.phase == Phase::Ivr && self.media_due.is_some_and(|m| self.heard_samples >= m) {
            self.media_due = None;
            self.due = None;
            let next = self.advance(now, prompts);
            return Effects { check: effects.check.or(next.check), ..next };
        }
        effects
    }

    /// The call ended (either side): a window that holds the prompt's
    /// opening is checked; one the server cut before it is a problem.
    pub fn ended(&mut self) -> Option<(Arc<PromptRef>, Vec<i16>)> {
        let check = self.take_window_check();
        if let Some(w) = self.window.take()
            && self.phase != Phase::Done
        {
            self.problems.push(Problem::PromptCut(w.prompt.id.to_owned()));
        }
        self.phase = Phase::Done;
        self.due = None;
        self.abandon_at = None;
        self.callback_at = None;
        check
    }

    /// The open window, for checking, if it already holds the prompt's
    /// opening, the whole excerpt after the onset (it is left open
    /// otherwise: a prompt cut before, by the run's end for instance, is
    /// not judged on a part of its excerpt).
    fn take_window_check(&mut self) -> Option<(Arc<PromptRef>, Vec<i16>)> {
        let w = self.window.as_ref()?;
        if !w.audible || w.samples.len() < w.onset + EXCERPT_SKIP + w.prompt.excerpt.len() {
            return None;
        }
        let w = self.window.take()?;
        self.request_check(w)
    }

    /// A full window becomes a check request, on a call that is checked.
    fn request_check(&mut self, w: Window) -> Option<(Arc<PromptRef>, Vec<i16>)> {
        if !self.check_audio {
            return None;
        }
        self.checks_pending += 1;
        Some((w.prompt, w.samples))
    }

    pub fn checked(&mut self, prompt: &str, score: f64) {
        self.checks_pending = self.checks_pending.saturating_sub(1);
        self.heard.push(Heard { prompt: prompt.to_owned(), score });
    }

    fn hang_up(&mut self) -> Effects {
        self.media_due = None;
        self.phase = Phase::Done;
        self.window = None;
        self.due = None;
        self.abandon_at = None;
        self.callback_at = None;
        Effects { hang_up: true, ..Effects::default() }
    }

    /// Waited long enough in the queue: the callback key, then the offer.
    fn press_queue_callback(&mut self, now: Instant, since: Instant, prompts: &PromptLibrary) -> Effects {
        self.queue_wait = Some(now - since);
        self.queue_callback = true;
        self.callback_at = None;
        self.due = None;
        self.tone_frames = 0;
        self.phase = Phase::Ivr;
        self.keys.push(("queue".to_owned(), "1".to_owned()));
        self.keys_leaving = true;
        self.callback_offer();
        let next = self.advance(now, prompts);
        Effects { press: Some(Keys::one('1')), ..next }
    }

    fn open_window(&mut self, prompts: &PromptLibrary, id: &'static str, listen: Listen) -> Option<Duration> {
        let language = if matches!(id, "welcome" | "choose-language") { Language::Ca } else { self.language };
        let prompt = prompts.get(language, id)?.clone();
        let length = prompt.length;
        let listen = match listen {
            Listen::Whole => length + AFTER_PROMPT,
            Listen::Barge => length.min(MENU_LISTEN),
        };
        let listen = (listen.as_secs_f64() * 8000.0) as u64;
        let after_key = std::mem::take(&mut self.keys_leaving).then(AfterKey::default);
        self.window = Some(Window { prompt, samples: self.recent.iter().copied().collect(), audible: false, onset: 0, listen, after_key });
        Some(length)
    }

    fn advance(&mut self, now: Instant, prompts: &PromptLibrary) -> Effects {
        let mut effects = Effects::default();
        while let Some(step) = self.steps.pop_front() {
            match step {
                Step::Hear(id, listen) => {
                    // A window still open is checked with what it has (a
                    // prompt shorter than its check window).
                    effects.check = self.take_window_check();
                    let length = self.open_window(prompts, id, listen).unwrap_or_default();
                    if listen == Listen::Barge {
                        self.steps.push_front(Step::Think);
                    }
                    // Timed from the prompt's onset on the media clock
                    // (see `audio`); should the server never play it, the
                    // script goes on and the checks tell what was missed.
                    self.media_due = None;
                    self.due = Some(now + length * 2 + STALL_GRACE);
                    return effects;
                }
                Step::Think => {
                    self.media_due = None;
                    self.due = Some(now + self.journey.think.min(Duration::from_secs(3)));
                    return effects;
                }
                Step::Served => self.served = true,
                Step::Queue => {
                    self.media_due = None;
                    self.phase = Phase::Queue { since: now };
                    self.due = Some(now + self.scaled(self.journey.patience));
                    self.callback_at = self.journey.callback_in_queue_after.map(|after| now + self.scaled(after));
                    return effects;
                }
                Step::Speak => {
                    // The stream's voice goes on all call long: the
                    // message is what the server records after its beep.
                    self.media_due = None;
                    self.due = Some(now + self.scaled(self.journey.message_length).clamp(MESSAGE_MIN, MESSAGE_MAX));
                    return effects;
                }
                Step::EndMessage => {
                    self.keys.push(("leave-message".to_owned(), "#".to_owned()));
                    self.message_left = true;
                    self.steps.extend([Step::Hear("message-saved", Listen::Whole), Step::Hear("goodbye", Listen::Whole), Step::AwaitBye]);
                    effects.press = Some(Keys::one('#'));
                    self.keys_leaving = true;
                }
                Step::AwaitBye => {
                    self.media_due = None;
                    self.problems.push(Problem::NoByeAfterGoodbye);
                    self.steps.push_front(Step::AwaitBye);
                    self.due = Some(now + BYE_WITHIN);
                    // Taken back if the BYE comes first ([`Caller::ended`]
                    // clears it through `bye_received`).
                    return effects;
                }
                Step::Reply(menu) => match self.journey.reply(&mut self.state, menu) {
                    Reply::Press(keys) => {
                        let pressed: String = keys.as_slice().iter().collect();
                        self.keys.push((menu.to_owned(), pressed));
                        if menu.starts_with("survey-") {
                            self.survey_pressed += 1;
                        }
                        self.after_keys(menu, keys.as_slice());
                        effects.press = Some(keys);
                        self.keys_leaving = true;
                    }
                    Reply::HangUp => return self.hang_up(),
                    Reply::Wait => {
                        self.problems.push(Problem::UnsupportedReply(menu.to_owned()));
                        return self.hang_up();
                    }
                },
            }
        }
        effects
    }

    /// The server hung up: after the goodbye that is the end of the flow.
    pub fn bye_received(&mut self) {
        if self.steps.front() == Some(&Step::AwaitBye) {
            self.survey_answers = self.survey_pressed;
            self.problems.retain(|p| *p != Problem::NoByeAfterGoodbye);
            self.steps.clear();
            self.phase = Phase::Done;
        } else if self.phase != Phase::Done {
            self.problems.push(Problem::UnexpectedBye);
        }
    }

    fn info(&mut self) {
        let Some(info) = self.journey.topic.info_prompt() else { return self.ask_for_operator() };
        self.steps.extend([Step::Hear(info, Listen::Whole), Step::Served, Step::Hear("info-options", Listen::Barge), Step::Reply("info-options")]);
    }

    fn ask_for_operator(&mut self) {
        match self.line {
            Line::Open => self.steps.extend([Step::Hear("to-operator", Listen::Whole), Step::Queue]),
            Line::Closed => {
                self.out_of_hours = true;
                self.steps.extend([
                    Step::Hear("out-of-hours", Listen::Whole),
                    Step::Hear("contact-options", Listen::Barge),
                    Step::Reply("contact-options"),
                ]);
            }
        }
    }

    fn callback_offer(&mut self) {
        self.steps.extend([Step::Hear("callback-offer", Listen::Barge), Step::Reply("callback-offer")]);
    }

    fn main_menu(&mut self) {
        self.steps.extend([Step::Hear("main-menu", Listen::Barge), Step::Reply("main-menu")]);
    }

    fn after_keys(&mut self, menu: &str, keys: &[char]) {
        let key = keys.first().copied().unwrap_or('\0');
        match menu {
            "choose-language" => {
                self.language = Language::ALL.into_iter().find(|l| l.key() == key).unwrap_or(Language::Ca);
                self.main_menu();
            }
            "main-menu" if key == Topic::Other.key() => self.ask_for_operator(),
            "main-menu" => self.info(),
            "info-options" => match key {
                '1' => self.info(),
                '2' => self.ask_for_operator(),
                _ => self.main_menu(),
            },
            "contact-options" => match key {
                '1' => self.callback_offer(),
                // The beep follows the prompt; the recording starts after it.
                '2' => self.steps.extend([Step::Hear("leave-message", Listen::Whole), Step::Speak, Step::EndMessage]),
                _ => self.steps.extend([Step::Hear("goodbye", Listen::Whole), Step::AwaitBye]),
            },
            "callback-offer" => {
                self.callback_requested = true;
                self.steps.extend([Step::Hear("callback-registered", Listen::Whole), Step::Hear("goodbye", Listen::Whole), Step::AwaitBye]);
            }
            "survey-overall" => self.steps.extend([Step::Hear("survey-resolved", Listen::Barge), Step::Reply("survey-resolved")]),
            "survey-resolved" => self.steps.extend([Step::Hear("survey-operator", Listen::Barge), Step::Reply("survey-operator")]),
            "survey-operator" => {
                self.steps.extend([Step::Hear("survey-thanks", Listen::Whole), Step::Hear("goodbye", Listen::Whole), Step::AwaitBye])
            }
            _ => {}
        }
    }

    /// The disposition the server's record must show.
    pub fn expected_disposition(&self) -> Disposition {
        if self.talked {
            Disposition::Answered
        } else if self.callback_requested {
            // The server keeps the caller's clear number for the callback.
            Disposition::CalledBack
        } else if self.message_left {
            Disposition::MessageLeft
        } else if self.queue_wait.is_some() || matches!(self.phase, Phase::Queue { .. }) {
            Disposition::AbandonedInQueue
        } else if self.out_of_hours {
            Disposition::OutOfHours
        } else if self.served {
            Disposition::CompletedInIvr
        } else {
            Disposition::AbandonedInIvr
        }
    }

    /// A second disposition the record may show: a caller whose patience
    /// ran out in the queue may cross the operator's answer (the BYE and
    /// the bridge pass each other), so `answered` is accepted there.
    pub fn also_accepted(&self) -> Option<Disposition> {
        (!self.talked && self.queue_wait.is_some()).then_some(Disposition::Answered)
    }

    /// Whether the server may have counted fewer keys than were sent, for
    /// no fault of its own: an in-band callback key that met the
    /// operator's answer. The server listens for tones in its IVR media
    /// only (a bridge relays the audio, docs/architecture.md), so a tone
    /// that ended after the handover, or was sent after it while the
    /// caller had not yet heard the operator, is not a key there (seen in
    /// a smoke run: 2 in-band keys counted, 3 sent). The same key by
    /// RFC 4733 or SIP INFO is counted either way (the bridge reports
    /// both), so those still must match.
    pub fn keys_uncertain(&self) -> bool {
        self.callback_key_met_operator && self.journey.dtmf == DtmfMethod::Inband
    }

    /// The start the record's `ivr_path` must have, from the keys pressed.
    pub fn expected_path_prefix(&self) -> String {
        // A caller gone during the welcome leaves only "welcome".
        let mut path = String::from("welcome");
        let mut keys = self.keys.iter();
        if let Some((_, k)) = keys.next() {
            path.push_str(&format!(">choose-language[{k}]>lang-{}>main", self.language.code()));
            if let Some((menu, k)) = keys.next()
                && menu == "main-menu"
            {
                path.push_str(&format!("[{k}]"));
            }
        }
        path
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }
}

#[cfg(test)]
#[path = "caller_tests.rs"]
mod tests;
