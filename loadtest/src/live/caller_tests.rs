//! Scenario tests of the live caller (`caller.rs`): each drives one
//! `Caller` against a scripted server on a simulated clock.

use super::*;
use crate::traffic::ContactChoice;

fn library() -> PromptLibrary {
    PromptLibrary::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts")).expect("prompts load")
}

fn journey(intent: Intent, topic: Topic) -> Journey {
    Journey {
        language: Language::Es,
        topic,
        intent,
        hear_again: false,
        abandon_after: Duration::from_secs(20),
        patience: Duration::from_secs(100),
        callback_in_queue_after: None,
        contact_choice: ContactChoice::HangUp,
        message_length: Duration::from_secs(10),
        survey: Some([Some(9), Some(10), Some(8)]),
        talk: Duration::from_secs(60),
        dtmf: DtmfMethod::Rfc4733,
        think: Duration::from_secs(1),
    }
}

/// Plays the server's side: 20 ms of low audio at a time (the
/// prompts' media clock), the caller's timers when due, until it hangs
/// up or `limit` passes. Returns the keys pressed and the hang-up time.
fn run_calls(c: &mut Caller, lib: &PromptLibrary, t0: Instant, limit: Duration) -> (Vec<String>, Option<Instant>) {
    let (pressed, end) = play_server(c, lib, t0, limit, |_| false);
    (pressed, end.filter(|_| c.is_done()))
}

/// As `run_calls` until the caller waits for the server's BYE after the
/// flow's goodbye; returns when the wait began (`None`: it hung up, or
/// `limit` passed).
fn until_goodbye(c: &mut Caller, lib: &PromptLibrary, t0: Instant, limit: Duration) -> (Vec<String>, Option<Instant>) {
    let (pressed, end) = play_server(c, lib, t0, limit, |c| c.steps.front() == Some(&Step::AwaitBye));
    (pressed, end.filter(|_| !c.is_done()))
}

/// The server's side for `run_calls` and `until_goodbye`: stops at the
/// caller's hang-up or when `stop` holds (returning the time), or at
/// `limit` (returning `None`).
fn play_server(
    c: &mut Caller,
    lib: &PromptLibrary,
    t0: Instant,
    limit: Duration,
    stop: impl Fn(&Caller) -> bool,
) -> (Vec<String>, Option<Instant>) {
    let mut pressed = Vec::new();
    let mut effects = c.answered(t0, lib);
    let mut t = t0;
    // Frames since the last key: like the server, the interrupted
    // prompt's tail goes on for a frame, then one frame of silence
    // before the next prompt.
    let mut since_key = u32::MAX;
    loop {
        if let Some(k) = effects.press.take() {
            pressed.push(k.as_slice().iter().collect());
            since_key = 0;
        }
        if effects.hang_up || stop(c) {
            return (pressed, Some(t));
        }
        if t >= t0 + limit {
            return (pressed, None);
        }
        t += Duration::from_millis(20);
        since_key = since_key.saturating_add(1);
        let level = if since_key == 2 { 0 } else { 1000 };
        effects = c.audio(t, &[level; FRAME], lib);
        if !effects.hang_up && effects.press.is_none() && c.next_wake().is_some_and(|w| w <= t) {
            effects = c.wake(t, lib);
        }
    }
}

#[test]
fn a_self_service_caller_chooses_language_and_topic_hears_the_information_whole_and_hangs_up() {
    let lib = library();
    let mut c = Caller::new("600000001".into(), journey(Intent::SelfService, Topic::Health), 1.0);
    let t0 = Instant::now();
    let (pressed, hung_up) = run_calls(&mut c, &lib, t0, Duration::from_secs(300));
    assert_eq!(pressed, vec!["2", "2"]);
    // On the media clock: welcome 5.99 s whole, 2.5 s of each of three
    // menus and a 1 s think after each, the information 29.05 s whole.
    let at = hung_up.expect("hangs up").duration_since(t0).as_secs_f64();
    assert!((45.5..46.5).contains(&at), "{at}");
    assert!(c.is_done() && c.served);
    assert_eq!(c.expected_disposition(), Disposition::CompletedInIvr);
    assert_eq!(c.expected_path_prefix(), "welcome>choose-language[2]>lang-es>main[2]");
}

#[test]
fn an_operator_caller_by_the_main_menu_waits_in_the_queue_and_gives_up_after_its_scaled_patience() {
    let lib = library();
    let mut c = Caller::new("600000002".into(), journey(Intent::Operator, Topic::Other), 0.1);
    let t0 = Instant::now();
    assert_eq!(run_calls(&mut c, &lib, t0, Duration::from_secs(300)).0, vec!["2", "6"]);
    assert_eq!(c.queue_wait, Some(Duration::from_secs(10)));
    assert_eq!(c.expected_disposition(), Disposition::AbandonedInQueue);
}

/// Takes an operator caller through the queue (the operator's tone,
/// then its end) and the survey's three questions, up to the wait for
/// the server's BYE after its goodbye. Returns the keys pressed.
fn through_the_survey(c: &mut Caller, lib: &PromptLibrary) -> Vec<String> {
    let t0 = Instant::now();
    run_calls(c, lib, t0, Duration::from_secs(20));
    assert!(matches!(c.phase, Phase::Queue { .. }), "{:?}", c.phase);
    let tone: Vec<i16> = (0..FRAME).map(|i| (6000.0 * (2.0 * std::f64::consts::PI * OPERATOR_HZ * i as f64 / 8000.0).sin()) as i16).collect();
    let t1 = t0 + Duration::from_secs(21);
    for _ in 0..TONE_FRAMES {
        c.audio(t1, &tone, lib);
    }
    assert_eq!(c.phase, Phase::Talking);
    for _ in 0..QUIET_FRAMES {
        c.audio(t1, &[0; FRAME], lib);
    }
    assert_eq!(c.phase, Phase::Ivr);
    // survey-intro whole, then each question: a score and '#'.
    let mut presses = Vec::new();
    let mut t = t1;
    while c.steps.front() != Some(&Step::AwaitBye) && t < t1 + Duration::from_secs(120) {
        t += Duration::from_millis(20);
        let mut e = c.audio(t, &[1000; FRAME], lib);
        if e.press.is_none() && c.next_wake().is_some_and(|w| w <= t) {
            e = c.wake(t, lib);
        }
        if let Some(k) = e.press {
            presses.push(k.as_slice().iter().collect::<String>());
        }
    }
    presses
}

#[test]
fn the_operator_tone_connects_a_queued_caller_and_its_end_starts_the_survey() {
    let lib = library();
    let mut c = Caller::new("600000003".into(), journey(Intent::Operator, Topic::Other), 1.0);
    assert_eq!(through_the_survey(&mut c, &lib), vec!["9#", "10#", "8#"]);
    c.bye_received();
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.expected_disposition(), Disposition::Answered);
    // The BYE after the goodbye: the server took all three answers.
    assert_eq!(c.survey_answers, 3);
}

/// The smoke run's one-in-300 failure: the drain deadline hung up a
/// caller just after its last "8#"; the server read the BYE before the
/// '#' (they travel on different sockets) and kept two answers, while
/// the caller, counting keys pressed, vouched for three.
#[test]
fn a_caller_hung_up_after_its_last_answer_but_before_the_goodbye_vouches_for_no_survey_answer() {
    let lib = library();
    let mut c = Caller::new("600000007".into(), journey(Intent::Operator, Topic::Other), 1.0);
    assert_eq!(through_the_survey(&mut c, &lib).len(), 3);
    // The run's end hangs it up (as `Engine::hang_up_all` does).
    c.phase = Phase::Done;
    c.ended();
    assert_eq!(c.survey_answers, 0);
    assert_eq!(c.expected_disposition(), Disposition::Answered);
}

fn closed_line_caller(choice: ContactChoice) -> Caller {
    let mut j = journey(Intent::Operator, Topic::Other);
    j.contact_choice = choice;
    let mut c = Caller::new("600000010".into(), j, 0.1);
    c.line = Line::Closed;
    c
}

#[test]
fn a_queued_caller_presses_the_callback_key_after_its_scaled_wait_and_leaves_its_own_number() {
    let lib = library();
    let mut j = journey(Intent::Operator, Topic::Other);
    j.callback_in_queue_after = Some(Duration::from_secs(60));
    let mut c = Caller::new("600000009".into(), j, 0.1);
    let t0 = Instant::now();
    let (pressed, goodbye) = until_goodbye(&mut c, &lib, t0, Duration::from_secs(120));
    // Language, operator, the queue's callback key, "1": this number.
    assert_eq!(pressed, vec!["2", "6", "1", "1"]);
    // 60 s scaled by 0.1: six seconds in the queue, not its patience.
    assert_eq!(c.queue_wait, Some(Duration::from_secs(6)));
    assert!(c.queue_callback && c.callback_requested);
    assert!(goodbye.is_some(), "hears callback-registered and goodbye, then waits for the BYE");
    c.bye_received();
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.expected_disposition(), Disposition::CalledBack);
    // The server's BYE and an operator's answer may still have crossed.
    assert_eq!(c.also_accepted(), Some(Disposition::Answered));
}

/// A run that never ended: an answered caller kept its callback time,
/// already past, as its next wake, and the engine woke it again and
/// again.
#[test]
fn a_caller_answered_before_its_callback_time_has_no_wake_left_from_the_queue() {
    let lib = library();
    let mut j = journey(Intent::Operator, Topic::Other);
    j.callback_in_queue_after = Some(Duration::from_secs(60));
    j.survey = None;
    let mut c = Caller::new("600000012".into(), j, 0.1);
    let t0 = Instant::now();
    run_calls(&mut c, &lib, t0, Duration::from_secs(20));
    assert!(matches!(c.phase, Phase::Queue { .. }));
    let tone: Vec<i16> = (0..FRAME).map(|i| (6000.0 * (2.0 * std::f64::consts::PI * OPERATOR_HZ * i as f64 / 8000.0).sin()) as i16).collect();
    let t1 = t0 + Duration::from_secs(21);
    for _ in 0..TONE_FRAMES {
        c.audio(t1, &tone, &lib);
    }
    assert_eq!(c.phase, Phase::Talking);
    assert_eq!(c.next_wake(), None);
    assert!(c.wake(t1 + Duration::from_secs(60), &lib).press.is_none());
    assert!(!c.queue_callback && c.phase == Phase::Talking);
}

/// Seen live: the callback key pressed while an operator's phone rang;
/// the operator answered before the number was registered.
#[test]
fn a_callback_key_pressed_while_the_operators_phone_rings_is_ignored_and_the_call_goes_on_to_its_survey() {
    let lib = library();
    let mut j = journey(Intent::Operator, Topic::Other);
    j.callback_in_queue_after = Some(Duration::from_secs(60));
    let mut c = Caller::new("600000013".into(), j, 0.1);
    let t0 = Instant::now();
    let (pressed, _) = play_server(&mut c, &lib, t0, Duration::from_secs(60), |c| c.queue_callback);
    assert_eq!(pressed, vec!["2", "6", "1"]);
    let tone: Vec<i16> = (0..FRAME).map(|i| (6000.0 * (2.0 * std::f64::consts::PI * OPERATOR_HZ * i as f64 / 8000.0).sin()) as i16).collect();
    let t1 = t0 + Duration::from_secs(40);
    for _ in 0..TONE_FRAMES {
        c.audio(t1, &tone, &lib);
    }
    assert_eq!(c.phase, Phase::Talking);
    assert!(!c.queue_callback && c.talked);
    let mut hung_up = false;
    for _ in 0..QUIET_FRAMES {
        hung_up |= c.audio(t1, &[0; FRAME], &lib).hang_up;
    }
    // The operator hung up: the survey follows, as for any answered call.
    assert!(!hung_up && !c.is_done() && !c.callback_requested);
    assert_eq!(c.steps.front(), Some(&Step::Hear("survey-overall", Listen::Barge)));
    assert_eq!(c.window.as_ref().map(|w| w.prompt.id), Some("survey-intro"));
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.expected_disposition(), Disposition::Answered);
}

/// Seen in a smoke run: an in-band callback key that met the
/// operator's answer was not counted by the server (its bridge does
/// not listen for tones); by RFC 4733 or SIP INFO it is.
#[test]
fn only_an_in_band_callback_key_that_met_the_operator_leaves_the_servers_key_count_uncertain() {
    let lib = library();
    let tone: Vec<i16> = (0..FRAME).map(|i| (6000.0 * (2.0 * std::f64::consts::PI * OPERATOR_HZ * i as f64 / 8000.0).sin()) as i16).collect();
    for (dtmf, operator_answers, uncertain) in [
        (DtmfMethod::Inband, true, true),
        (DtmfMethod::Rfc4733, true, false),
        (DtmfMethod::SipInfo, true, false),
        (DtmfMethod::Inband, false, false),
    ] {
        let mut j = journey(Intent::Operator, Topic::Other);
        j.callback_in_queue_after = Some(Duration::from_secs(60));
        j.dtmf = dtmf;
        let mut c = Caller::new("600000014".into(), j, 0.1);
        let t0 = Instant::now();
        let (pressed, _) = play_server(&mut c, &lib, t0, Duration::from_secs(60), |c| c.queue_callback);
        assert_eq!(pressed, vec!["2", "6", "1"]);
        assert!(!c.keys_uncertain(), "{dtmf:?}: the key went to the IVR, which counts it");
        if operator_answers {
            for _ in 0..TONE_FRAMES {
                c.audio(t0 + Duration::from_secs(40), &tone, &lib);
            }
            assert!(c.talked);
        }
        assert_eq!(c.keys_uncertain(), uncertain, "{dtmf:?}, operator answered: {operator_answers}");
    }
}

#[test]
fn a_queued_caller_whose_patience_ends_first_gives_up_without_a_callback() {
    let lib = library();
    let mut j = journey(Intent::Operator, Topic::Other);
    j.callback_in_queue_after = Some(Duration::from_secs(120));
    let mut c = Caller::new("600000011".into(), j, 0.1);
    let (pressed, _) = run_calls(&mut c, &lib, Instant::now(), Duration::from_secs(120));
    assert_eq!(pressed, vec!["2", "6"]);
    assert_eq!(c.queue_wait, Some(Duration::from_secs(10)));
    assert_eq!(c.expected_disposition(), Disposition::AbandonedInQueue);
}

#[test]
fn out_of_hours_a_caller_leaves_a_message_after_the_beep_and_ends_it_with_hash() {
    let lib = library();
    let mut c = closed_line_caller(ContactChoice::Message);
    let t0 = Instant::now();
    let (pressed, goodbye) = until_goodbye(&mut c, &lib, t0, Duration::from_secs(120));
    assert_eq!(pressed, vec!["2", "6", "2", "#"]);
    assert!(c.out_of_hours && c.message_left);
    assert!(goodbye.is_some(), "hears message-saved and goodbye");
    // Before the BYE: a message left out of hours.
    assert_eq!(c.expected_disposition(), Disposition::MessageLeft);
    c.bye_received();
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.also_accepted(), None);
}

#[test]
fn a_message_is_spoken_for_its_scaled_length_within_bounds() {
    let lib = library();
    for (length, scale, spoken) in [(10, 0.1, 2.0), (60, 1.0, 30.0), (50, 0.1, 5.0)] {
        let mut c = closed_line_caller(ContactChoice::Message);
        c.journey.message_length = Duration::from_secs(length);
        c.time_scale = scale;
        c.steps.extend([Step::Speak, Step::EndMessage]);
        let t0 = Instant::now();
        assert!(c.advance(t0, &lib).press.is_none());
        let end = c.next_wake().expect("the message's end");
        assert_eq!(end.duration_since(t0).as_secs_f64(), spoken);
        assert_eq!(c.wake(end, &lib).press, Some(Keys::one('#')));
    }
}

#[test]
fn out_of_hours_a_caller_asks_for_a_callback_to_its_own_number() {
    let lib = library();
    let mut c = closed_line_caller(ContactChoice::Callback);
    let (pressed, goodbye) = until_goodbye(&mut c, &lib, Instant::now(), Duration::from_secs(120));
    assert_eq!(pressed, vec!["2", "6", "1", "1"]);
    assert!(goodbye.is_some() && c.callback_requested && !c.queue_callback);
    c.bye_received();
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.expected_disposition(), Disposition::CalledBack);
    assert_eq!(c.also_accepted(), None, "never queued: no operator can answer");
}

#[test]
fn out_of_hours_a_caller_says_goodbye_or_hangs_up_and_the_call_is_out_of_hours() {
    let lib = library();
    let mut c = closed_line_caller(ContactChoice::Goodbye);
    let (pressed, goodbye) = until_goodbye(&mut c, &lib, Instant::now(), Duration::from_secs(120));
    assert_eq!(pressed, vec!["2", "6", "3"]);
    assert!(goodbye.is_some());
    c.bye_received();
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.expected_disposition(), Disposition::OutOfHours);

    let mut c = closed_line_caller(ContactChoice::HangUp);
    let (pressed, hung_up) = run_calls(&mut c, &lib, Instant::now(), Duration::from_secs(120));
    assert_eq!(pressed, vec!["2", "6"]);
    assert!(hung_up.is_some() && c.is_done());
    assert_eq!(c.expected_disposition(), Disposition::OutOfHours);
}

#[test]
fn the_line_is_open_or_closed_by_name() {
    assert_eq!("open".parse::<Line>(), Ok(Line::Open));
    assert_eq!("closed".parse::<Line>(), Ok(Line::Closed));
    assert!("shut".parse::<Line>().is_err());
}

#[test]
fn an_abandoning_caller_hangs_up_at_its_time_in_the_ivr() {
    let lib = library();
    let mut c = Caller::new("600000004".into(), journey(Intent::AbandonInIvr, Topic::Work), 0.5);
    let t0 = Instant::now();
    let (_, hung_up) = run_calls(&mut c, &lib, t0, Duration::from_secs(60));
    assert_eq!(hung_up, Some(t0 + Duration::from_secs(10)));
    assert_eq!(c.expected_disposition(), Disposition::AbandonedInIvr);
}

/// Two seconds of silence, then the welcome: whether a check was asked
/// for, and how long after the onset the first key went.
fn first_key_after_a_late_welcome(c: &mut Caller, lib: &PromptLibrary) -> (bool, f64) {
    let t0 = Instant::now();
    c.answered(t0, lib);
    let mut t = t0;
    for _ in 0..100 {
        t += Duration::from_millis(20);
        assert!(c.audio(t, &[0; FRAME], lib).check.is_none());
    }
    let onset = t;
    let mut first_key = None;
    let mut checked = false;
    while first_key.is_none() && t < t0 + Duration::from_secs(30) {
        t += Duration::from_millis(20);
        let mut e = c.audio(t, &[1000; FRAME], lib);
        checked |= e.check.is_some();
        if e.press.is_none() && c.next_wake().is_some_and(|w| w <= t) {
            e = c.wake(t, lib);
        }
        if e.press.is_some() {
            first_key = Some(t);
        }
    }
    (checked, first_key.expect("a key").duration_since(onset).as_secs_f64())
}

#[test]
fn a_prompt_the_server_starts_late_is_timed_and_checked_from_its_onset() {
    let lib = library();
    let mut c = Caller::new("600000006".into(), journey(Intent::SelfService, Topic::Work), 1.0);
    let (checked, after) = first_key_after_a_late_welcome(&mut c, &lib);
    assert!(checked, "the welcome's window was checked");
    // The welcome (5.99 s, less its own silence, + 0.4 s), then 2.5 s of
    // the language menu and a 1 s think, all from the onset.
    assert!((9.0..10.2).contains(&after), "{after}");
}

/// Loud audio until the language key; then `tail` loud frames (the
/// interrupted menu), `gap` quiet ones (a server slow to start the
/// next prompt), then the main menu, loud, until the next key. Returns
/// the seconds from the main menu's real onset to that key.
fn main_menu_key_after(tail: usize, gap: usize) -> f64 {
    let lib = library();
    let mut c = Caller::new("600000009".into(), journey(Intent::SelfService, Topic::Work), 1.0);
    let t0 = Instant::now();
    let mut t = t0;
    let mut e = c.answered(t0, &lib);
    let mut presses = 0;
    let mut since_first_press = 0;
    let mut main_onset = None;
    while t < t0 + Duration::from_secs(60) {
        if e.press.is_some() {
            presses += 1;
            if presses == 2 {
                return t.duration_since(main_onset.expect("the main menu started")).as_secs_f64();
            }
        }
        t += Duration::from_millis(20);
        let frame = if presses == 0 {
            [1000; FRAME]
        } else {
            since_first_press += 1;
            if since_first_press <= tail || since_first_press > tail + gap { [1000; FRAME] } else { [0; FRAME] }
        };
        if presses == 1 && since_first_press == tail + gap + 1 {
            main_onset = Some(t);
        }
        e = c.audio(t, &frame, &lib);
        if e.press.is_none() && c.next_wake().is_some_and(|w| w <= t) {
            e = c.wake(t, &lib);
        }
    }
    panic!("no second key");
}

#[test]
fn a_menu_after_our_key_is_timed_from_its_own_onset_not_from_the_tail_of_the_menu_it_interrupted() {
    let prompt_server = main_menu_key_after(2, 2);
    // 0.7 s of silence before the server's next prompt: the caller waits
    // for it instead of timing it from the interrupted menu's tail.
    let slow_server = main_menu_key_after(3, 35);
    assert!((slow_server - prompt_server).abs() < 0.021, "{slow_server} vs {prompt_server}");
    // A switch with no quiet frame at all is timed from 0.16 s in at worst.
    let no_gap = main_menu_key_after(0, 0);
    assert!((0.0..0.19).contains(&(no_gap - prompt_server)), "{no_gap} vs {prompt_server}");
}

#[test]
fn a_call_outside_the_audio_sample_is_timed_the_same_but_asks_for_no_check() {
    let lib = library();
    let mut c = Caller::new("600000008".into(), journey(Intent::SelfService, Topic::Work), 1.0);
    c.check_audio = false;
    let (checked, after) = first_key_after_a_late_welcome(&mut c, &lib);
    assert!(!checked);
    assert_eq!(c.checks_pending, 0);
    assert!((9.0..10.2).contains(&after), "{after}");
    c.ended();
    assert_eq!(c.checks_pending, 0);
}

#[test]
fn a_window_fills_from_what_was_heard_just_before_it_opened_and_asks_for_a_check() {
    let lib = library();
    let mut c = Caller::new("600000005".into(), journey(Intent::SelfService, Topic::Work), 1.0);
    let t0 = Instant::now();
    let mut checks = 0;
    c.answered(t0, &lib);
    let need = lib.get(Language::Ca, "welcome").expect("welcome").window();
    for _ in 0..need / FRAME + 1 {
        if c.audio(t0, &[1000; FRAME], &lib).check.is_some() {
            checks += 1;
        }
    }
    assert_eq!((checks, c.checks_pending), (1, 1));
    c.checked("welcome", 0.99);
    assert_eq!(c.checks_pending, 0);
}
