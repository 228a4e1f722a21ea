//! In-band DTMF detection: Goertzel filters on 8 kHz linear audio, with the
//! reception tolerances of ITU-T Q.24 (frequencies from Q.23).
//!
//! Owns: turning a caller's decoded audio into key presses, one report per
//! press. Must never: allocate, panic, or report a digit for speech, music,
//! noise, single tones or two tones of one group (talk-off).
//!
//! ## Blocks and windows
//! Audio is cut into 51-sample quarter blocks (6.4 ms). Each quarter gets a
//! complex Goertzel value for the eight Q.23 frequencies (697, 770, 852, 941;
//! 1209, 1336, 1477, 1633 Hz). A *window* is the last four quarters (204
//! samples, 25.5 ms: the classic 205-sample block, 39 Hz resolution), so
//! windows overlap by three quarters and are evaluated every 6.4 ms, while
//! each sample is filtered only once. The coherent sum of the four quarters
//! (phase-aligned) is exactly the 204-point DFT at each frequency; the phase
//! advance from one quarter to the next measures each tone's actual
//! frequency, and the spread of the quarter magnitudes measures whether the
//! tone fills the window.
//!
//! A window *hits* digit (row, column) when all of these hold:
//! - energy: mean power at least that of two tones at [`MIN_LEVEL_DBM0`]
//!   (Q.24 asks for operation down to about -25 dBm0 per tone and for
//!   non-operation well below; we accept ≥ -30, so -25 passes and -35 fails).
//!   Quarters under a quarter of that power skip the filters entirely (this
//!   is what keeps silence nearly free) and make their windows miss;
//! - the strongest bin of each group, measured at its estimated frequency,
//!   is within ±[`FREQ_TOLERANCE`] (2.5 %) of nominal: Q.24 requires
//!   operation at ±1.5 % and non-operation at ±3.5 %, 2.5 % splits the gap;
//! - twist (Q.24): the high-group tone at most 8 dB below the low-group one
//!   (normal twist), at most 4 dB above it (reverse twist);
//! - purity: the two tones carry at least [`PURITY`] of the window's energy.
//!   This is the general form of the second-harmonic and other-bin checks:
//!   energy at a harmonic, a third tone, noise or speech formants all count
//!   against it;
//! - steadiness: every quarter holds at least 40 % of the energy of the
//!   strongest one, so a window only partly covered by a tone misses.
//!
//! Frequencies are measured twice: from the phase advance between quarters
//! (unambiguous to ±78 Hz) and between the two halves (less leakage from the
//! other group's tone), the first unwrapping the second. Consecutive hits
//! must also agree on the frequencies within 1 % (`MAX_DRIFT`), which
//! rejects glides that cross a key's frequency pair.
//!
//! ## Durations (Q.24 signal and pause timing)
//! A digit is reported after [`HITS_TO_REPORT`] consecutive hits: two
//! windows 51 samples apart, each of whose quarters holds at least 40 % of
//! the energy of its strongest one. Any tone of 34 ms or more passes whatever
//! its alignment, so Q.24's 40 ms minimum is always accepted; the shortest
//! tone that can pass, at the luckiest alignment, is about 24 ms, so 20 ms
//! (and the 23 ms some administrations in Q.24 name) never do. The same digit
//! is reported again only after [`MISSES_TO_REARM`] consecutive misses: a
//! 40 ms pause always gives at least 8, an interruption of 10 ms at most 6
//! (Q.24: a 10 ms break inside a tone must not split it). A different digit
//! needs no pause.
//!
//! Cost: eight 2-multiply recurrences per sample (the inner loop is eight
//! independent lanes, which the compiler vectorises) plus a few dozen
//! complex operations per 6.4 ms quarter; nothing at all for quiet quarters.

use super::DtmfDigit;

/// Samples per quarter block.
pub const QUARTER_LEN: usize = 51;
/// Quarters per analysis window (204 samples).
pub const WINDOW_QUARTERS: usize = 4;
/// Consecutive window hits before a digit is reported.
pub const HITS_TO_REPORT: u32 = 2;
/// Consecutive window misses after which the same digit may be reported again.
pub const MISSES_TO_REARM: u32 = 7;
/// Relative frequency deviation accepted (Q.24: operate ±1.5 %, not ±3.5 %).
pub const FREQ_TOLERANCE: f32 = 0.025;
/// Minimum share of the window energy in the two tones.
pub const PURITY: f32 = 0.8;
/// Per-tone level, in dBm0, under which two equal tones are not detected.
pub const MIN_LEVEL_DBM0: f32 = -30.0;
/// Peak of a 0 dBm0 sine in 16-bit linear PCM: G.711's overload point is
/// +3.17 dBm0 (mu-law) / +3.14 dBm0 (A-law) at full scale 32768.
pub const ZERO_DBM0_PEAK: f32 = 22_700.0;

const SAMPLE_RATE: f32 = 8000.0;
const WINDOW_LEN: usize = QUARTER_LEN * WINDOW_QUARTERS;
/// Q.23 frequencies: four low-group (rows), then four high-group (columns).
pub const FREQUENCIES: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];
/// Normal twist limit, 8 dB, as a power ratio.
const NORMAL_TWIST: f32 = 6.309_573;
/// Reverse twist limit, 4 dB, as a power ratio.
const REVERSE_TWIST: f32 = 2.511_886_4;
/// Quarter energy relative to the strongest quarter in the window.
const STEADINESS: f32 = 0.4;
/// Largest change of a tone's relative frequency offset between two
/// consecutive hit windows (6.4 ms apart).
const MAX_DRIFT: f32 = 0.01;

/// One window's verdict: the digit and its tones' relative offsets.
#[derive(Debug, Clone, Copy)]
struct Hit {
    digit: DtmfDigit,
    offsets: [f32; 2],
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Complex {
    re: f32,
    im: f32,
}

impl Complex {
    fn mul(self, o: Complex) -> Complex {
        Complex { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
    fn mul_conj(self, o: Complex) -> Complex {
        Complex { re: self.re * o.re + self.im * o.im, im: self.im * o.re - self.re * o.im }
    }
    fn add(self, o: Complex) -> Complex {
        Complex { re: self.re + o.re, im: self.im + o.im }
    }
    fn norm_sqr(self) -> f32 {
        self.re * self.re + self.im * self.im
    }
    fn from_angle(a: f32) -> Complex {
        Complex { re: a.cos(), im: a.sin() }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Quarter {
    /// False for quiet quarters, whose `bins` were not computed.
    live: bool,
    energy: f32,
    /// Σ x[n]·e^{-jωn} over the quarter, n local to the quarter.
    bins: [Complex; 8],
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Filters {
    /// 2·cos ω, the Goertzel recurrence coefficient.
    coef: [f32; 8],
    cos: [f32; 8],
    sin: [f32; 8],
    /// e^{-jω·QUARTER_LEN}: phase of one quarter.
    step: [Complex; 8],
    omega: [f32; 8],
}

impl Filters {
    fn new() -> Filters {
        let mut f = Filters {
            coef: [0.0; 8],
            cos: [0.0; 8],
            sin: [0.0; 8],
            step: [Complex::default(); 8],
            omega: [0.0; 8],
        };
        for (b, freq) in FREQUENCIES.iter().enumerate() {
            let w = 2.0 * std::f32::consts::PI * freq / SAMPLE_RATE;
            f.omega[b] = w;
            f.coef[b] = 2.0 * w.cos();
            f.cos[b] = w.cos();
            f.sin[b] = w.sin();
            f.step[b] = Complex::from_angle(-w * QUARTER_LEN as f32);
        }
        f
    }
}

/// Per-call in-band DTMF detector; feed it decoded audio of any length.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    filters: Filters,
    pending: [i16; QUARTER_LEN],
    pending_len: usize,
    quarters: [Quarter; WINDOW_QUARTERS],
    /// Total quarters analysed (the ring index is this modulo 4).
    quarter_count: u64,
    candidate: Option<DtmfDigit>,
    hits: u32,
    misses: u32,
    /// Relative frequency offsets of the candidate's tones in the last hit.
    offsets: [f32; 2],
    /// Last reported digit, until a pause re-arms it.
    reported: Option<DtmfDigit>,
    min_window_energy: f32,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    pub fn new() -> Self {
        let peak = ZERO_DBM0_PEAK * 10f32.powf(MIN_LEVEL_DBM0 / 20.0);
        // Two tones of peak A have mean power A²; over a whole window:
        let min_window_energy = peak * peak * WINDOW_LEN as f32;
        DtmfDetector {
            filters: Filters::new(),
            pending: [0; QUARTER_LEN],
            pending_len: 0,
            quarters: [Quarter::default(); WINDOW_QUARTERS],
            quarter_count: 0,
            candidate: None,
            hits: 0,
            offsets: [0.0; 2],
            misses: MISSES_TO_REARM,
            reported: None,
            min_window_energy,
        }
    }

    /// Forgets all audio and digit state (e.g. after a re-INVITE).
    pub fn reset(&mut self) {
        *self = DtmfDetector { filters: self.filters, ..DtmfDetector::new() };
    }

    /// Feeds 8 kHz samples; `on_digit` is called once per detected press.
    pub fn process(&mut self, mut samples: &[i16], mut on_digit: impl FnMut(DtmfDigit)) {
        while !samples.is_empty() {
            let free = QUARTER_LEN - self.pending_len;
            let take = free.min(samples.len());
            let (head, rest) = samples.split_at(take);
            if let Some(dst) = self.pending.get_mut(self.pending_len..self.pending_len + take) {
                dst.copy_from_slice(head);
            }
            self.pending_len += take;
            samples = rest;
            if self.pending_len == QUARTER_LEN {
                self.pending_len = 0;
                if let Some(d) = self.analyse_quarter() {
                    on_digit(d);
                }
            }
        }
    }

    /// Convenience for tests and tools: all digits in `samples`.
    pub fn detect_all(&mut self, samples: &[i16]) -> Vec<DtmfDigit> {
        let mut out = Vec::new();
        self.process(samples, |d| out.push(d));
        out
    }

    fn analyse_quarter(&mut self) -> Option<DtmfDigit> {
        // Exact integer sum (vectorises; 51 · 2^30 fits easily in i64).
        let energy = self.pending.iter().map(|&x| i64::from(x) * i64::from(x)).sum::<i64>() as f32;
        let mut quarter = Quarter { live: false, energy, bins: [Complex::default(); 8] };
        if energy >= self.min_window_energy / (4.0 * WINDOW_QUARTERS as f32) {
            quarter.live = true;
            quarter.bins = self.goertzel();
        }
        let slot = (self.quarter_count % WINDOW_QUARTERS as u64) as usize;
        if let Some(q) = self.quarters.get_mut(slot) {
            *q = quarter;
        }
        self.quarter_count += 1;
        let hit = if self.quarter_count >= WINDOW_QUARTERS as u64 { self.evaluate_window() } else { None };
        self.track(hit)
    }

    /// The eight Goertzel recurrences over the pending quarter, returned as
    /// complex DFT values Σ x[n]e^{-jωn}.
    fn goertzel(&self) -> [Complex; 8] {
        let f = &self.filters;
        let mut s1 = [0f32; 8];
        let mut s2 = [0f32; 8];
        for &x in &self.pending {
            let x = f32::from(x);
            for b in 0..8 {
                let s0 = x + f.coef[b] * s1[b] - s2[b];
                s2[b] = s1[b];
                s1[b] = s0;
            }
        }
        let mut out = [Complex::default(); 8];
        for b in 0..8 {
            // One more step with zero input gives y = e^{jωN}·X(ω).
            let y = Complex { re: f.cos[b] * s1[b] - s2[b], im: f.sin[b] * s1[b] };
            out[b] = y.mul(f.step[b]);
        }
        out
    }

    /// The four quarters oldest first.
    fn window(&self) -> [Quarter; WINDOW_QUARTERS] {
        let start = (self.quarter_count % WINDOW_QUARTERS as u64) as usize;
        let mut w = [Quarter::default(); WINDOW_QUARTERS];
        for (k, q) in w.iter_mut().enumerate() {
            *q = self.quarters[(start + k) % WINDOW_QUARTERS];
        }
        w
    }

    fn evaluate_window(&self) -> Option<Hit> {
        let window = self.window();
        if !window.iter().all(|q| q.live) {
            return None;
        }
        let energy: f32 = window.iter().map(|q| q.energy).sum();
        if energy < self.min_window_energy {
            return None;
        }
        // Steadiness: a tone that covers only part of the window leaves a
        // quarter short of energy. (Total quarter energy, not per-bin power:
        // with 157 Hz quarter resolution the other group's tone leaks into
        // each bin and beats against it.)
        let quarter_peak = window.iter().map(|q| q.energy).fold(0f32, f32::max);
        if window.iter().any(|q| q.energy < STEADINESS * quarter_peak) {
            return None;
        }
        // A unit-amplitude bin-centred sine gives |X|² = (N/2)², energy N/2.
        let norm = energy * WINDOW_LEN as f32 / 2.0;
        let mut power = [0f32; 8];
        for (b, p) in power.iter_mut().enumerate() {
            *p = coherent_sum(&window, b, self.filters.step[b]).norm_sqr();
        }
        let row = argmax(&power[0..4]);
        let col = 4 + argmax(&power[4..8]);
        let (row_power, row_offset) = self.tone(&window, row)?;
        let (col_power, col_offset) = self.tone(&window, col)?;
        let (row_power, col_power) = (row_power / norm, col_power / norm);
        if row_power > col_power * NORMAL_TWIST || col_power > row_power * REVERSE_TWIST {
            return None;
        }
        if row_power + col_power < PURITY {
            return None;
        }
        let digit = DtmfDigit::from_keypad_position(row, col - 4)?;
        Some(Hit { digit, offsets: [row_offset, col_offset] })
    }

    /// The tone's window power at its measured frequency and its relative
    /// frequency offset, if within the frequency tolerance.
    fn tone(&self, window: &[Quarter; WINDOW_QUARTERS], bin: usize) -> Option<(f32, f32)> {
        let step = self.filters.step[bin];
        let omega = self.filters.omega[bin];
        // Coarse: phase advance per quarter beyond the nominal one is
        // δ·51, unambiguous for |Δf| < 78 Hz.
        let mut advance = Complex::default();
        for pair in window.windows(2) {
            advance = advance.add(pair[1].bins[bin].mul_conj(pair[0].bins[bin]));
        }
        let coarse = angle(advance.mul(step)) / QUARTER_LEN as f32;
        // Fine: the same between the two 102-sample halves, which see far
        // less of the other group's tone; unwrapped with the coarse value.
        let first = window[0].bins[bin].add(window[1].bins[bin].mul(step));
        let second = window[2].bins[bin].add(window[3].bins[bin].mul(step));
        let half = 2.0 * QUARTER_LEN as f32;
        let measured = angle(second.mul_conj(first).mul(step.mul(step))) / half;
        let period = 2.0 * std::f32::consts::PI / half;
        let delta = measured + ((coarse - measured) / period).round() * period;
        let offset = delta / omega;
        if offset.abs() > FREQ_TOLERANCE {
            return None;
        }
        let refined_step = step.mul(Complex::from_angle(-delta * QUARTER_LEN as f32));
        Some((coherent_sum(window, bin, refined_step).norm_sqr(), offset))
    }

    /// Window-level state machine (see "Durations" in the module docs).
    fn track(&mut self, hit: Option<Hit>) -> Option<DtmfDigit> {
        let Some(Hit { digit, offsets }) = hit else {
            self.candidate = None;
            self.hits = 0;
            self.misses = self.misses.saturating_add(1);
            if self.misses >= MISSES_TO_REARM {
                self.reported = None;
            }
            return None;
        };
        self.misses = 0;
        // A steady tone keeps its frequency from one window to the next; a
        // glide (a sweep, an intonation) does not.
        let steady = self.offsets.iter().zip(offsets).all(|(a, b)| (a - b).abs() <= MAX_DRIFT);
        self.offsets = offsets;
        if self.candidate == Some(digit) && steady {
            self.hits = self.hits.saturating_add(1);
        } else {
            self.candidate = Some(digit);
            self.hits = 1;
        }
        if self.hits >= HITS_TO_REPORT && self.reported != Some(digit) {
            self.reported = Some(digit);
            return Some(digit);
        }
        None
    }
}

/// Σ_k Y_k·step^k: the window DFT at the frequency whose per-quarter phase
/// step is `step`.
fn coherent_sum(window: &[Quarter; WINDOW_QUARTERS], bin: usize, step: Complex) -> Complex {
    let mut rot = Complex { re: 1.0, im: 0.0 };
    let mut sum = Complex::default();
    for q in window {
        sum = sum.add(q.bins[bin].mul(rot));
        rot = rot.mul(step);
    }
    sum
}

fn angle(z: Complex) -> f32 {
    z.im.atan2(z.re)
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_goertzel_equals_the_direct_dft() {
        let mut d = DtmfDetector::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for x in d.pending.iter_mut() {
            *x = rng.i16(-20000..20000);
        }
        let bins = d.goertzel();
        for (b, got) in bins.iter().enumerate() {
            let w = d.filters.omega[b] as f64;
            let (mut re, mut im) = (0f64, 0f64);
            for (n, &x) in d.pending.iter().enumerate() {
                re += x as f64 * (w * n as f64).cos();
                im -= x as f64 * (w * n as f64).sin();
            }
            let scale = (re * re + im * im).sqrt().max(1.0);
            assert!(((got.re as f64 - re).abs() + (got.im as f64 - im).abs()) / scale < 1e-3, "bin {b}");
        }
        d.reset();
        assert_eq!(d.quarter_count, 0);
    }
}
