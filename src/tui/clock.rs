//! The review clock: human review time is time a diff is on screen in review, minus idle time.
//!
//! Invariants: time counts only while the clock is visible (a diff under review, no editor, no
//! agent at work) and only up to `idle_limit` after the last input; after that it pauses until
//! the next key. It is driven by the instants it is given, never by reading a clock itself, so
//! tests control time exactly. Counted time is handed out in spans (`take_span`) that the caller
//! journals; a span is never handed out twice.

use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

/// The time source: real in the app, manual in tests.
pub trait TimeSource: Send {
    fn now(&self) -> Instant;
    fn wall(&self) -> DateTime<Utc>;
}

pub struct SystemTime;

impl TimeSource for SystemTime {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> DateTime<Utc> {
        crate::core::journal::now_ms()
    }
}

/// A clock for tests: time moves only when told.
#[derive(Clone)]
pub struct ManualTime {
    inner: std::sync::Arc<std::sync::Mutex<(Instant, DateTime<Utc>)>>,
}

impl ManualTime {
    pub fn new() -> Self {
        let wall = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        ManualTime {
            inner: std::sync::Arc::new(std::sync::Mutex::new((Instant::now(), wall))),
        }
    }
    pub fn advance(&self, d: Duration) {
        if let Ok(mut g) = self.inner.lock() {
            g.0 += d;
            g.1 += chrono::Duration::from_std(d).unwrap_or_default();
        }
    }
}

impl Default for ManualTime {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeSource for ManualTime {
    fn now(&self) -> Instant {
        self.inner
            .lock()
            .map(|g| g.0)
            .unwrap_or_else(|_| Instant::now())
    }
    fn wall(&self) -> DateTime<Utc> {
        self.inner.lock().map(|g| g.1).unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct ReviewClock {
    idle_limit: Duration,
    visible: bool,
    last_input: Option<Instant>,
    /// Start of the running stretch (visible and not idle), with its wall time.
    running_since: Option<(Instant, DateTime<Utc>)>,
    /// Counted but not yet handed out.
    pending: Duration,
    pending_started: Option<DateTime<Utc>>,
    /// Everything counted in this review cycle, for the status bar.
    cycle: Duration,
}

impl ReviewClock {
    pub fn new(idle_limit: Duration) -> Self {
        ReviewClock {
            idle_limit,
            visible: false,
            last_input: None,
            running_since: None,
            pending: Duration::ZERO,
            pending_started: None,
            cycle: Duration::ZERO,
        }
    }

    /// Fold the running stretch into `pending`, up to `until`.
    fn settle(&mut self, until: Instant) {
        if let Some((since, wall)) = self.running_since.take() {
            let end = match self.last_input {
                Some(last) => until.min(last + self.idle_limit),
                None => until,
            };
            let d = end.saturating_duration_since(since);
            self.pending += d;
            self.cycle += d;
            if self.pending_started.is_none() {
                self.pending_started = Some(wall);
            }
        }
    }

    fn maybe_start(&mut self, now: Instant, wall: DateTime<Utc>) {
        let idle = self
            .last_input
            .is_some_and(|last| now.saturating_duration_since(last) >= self.idle_limit);
        if self.visible && !idle && self.running_since.is_none() {
            self.running_since = Some((now, wall));
        }
    }

    /// A key or mouse event: the reviewer is here.
    pub fn input(&mut self, now: Instant, wall: DateTime<Utc>) {
        self.settle(now);
        self.last_input = Some(now);
        self.maybe_start(now, wall);
    }

    /// Whether a diff under review is on screen with nothing else claiming the time.
    pub fn set_visible(&mut self, visible: bool, now: Instant, wall: DateTime<Utc>) {
        if visible == self.visible {
            return;
        }
        self.settle(now);
        self.visible = visible;
        if visible {
            // Showing the diff counts as activity: the reviewer just arrived.
            self.last_input = Some(now);
        }
        self.maybe_start(now, wall);
    }

    pub fn is_running(&self, now: Instant) -> bool {
        self.running_since.is_some()
            && self
                .last_input
                .is_none_or(|last| now.saturating_duration_since(last) < self.idle_limit)
    }

    /// Time counted in this cycle so far, including the running stretch.
    pub fn cycle_elapsed(&self, now: Instant) -> Duration {
        let running = match self.running_since {
            Some((since, _)) => {
                let end = match self.last_input {
                    Some(last) => now.min(last + self.idle_limit),
                    None => now,
                };
                end.saturating_duration_since(since)
            }
            None => Duration::ZERO,
        };
        self.cycle + running
    }

    /// Hand out what was counted so far (start wall time, milliseconds), to be journaled.
    pub fn take_span(&mut self, now: Instant, wall: DateTime<Utc>) -> Option<(DateTime<Utc>, u64)> {
        let was_running = self.running_since.is_some() && self.is_running(now);
        self.settle(now);
        if was_running {
            self.running_since = Some((now, wall));
        }
        let ms = self.pending.as_millis() as u64;
        let started = self.pending_started.take();
        self.pending = Duration::ZERO;
        match started {
            Some(s) if ms > 0 => Some((s, ms)),
            _ => None,
        }
    }

    /// A new review cycle begins (a new iteration is on screen); `already`: review time the
    /// journal has for it from before (a resumed session), so the clock shows the whole cycle.
    pub fn reset_cycle(&mut self, already: Duration) {
        self.cycle = already;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_visible_time_and_pauses_when_idle() {
        let t = ManualTime::new();
        let mut c = ReviewClock::new(Duration::from_secs(120));
        c.set_visible(true, t.now(), t.wall());
        t.advance(Duration::from_secs(30));
        c.input(t.now(), t.wall());
        assert_eq!(c.cycle_elapsed(t.now()), Duration::from_secs(30));
        // Walk away for ten minutes: only two minutes after the last key count.
        t.advance(Duration::from_secs(600));
        assert!(!c.is_running(t.now()));
        assert_eq!(c.cycle_elapsed(t.now()), Duration::from_secs(150));
        // Back: counting resumes from the key, not from when it paused.
        c.input(t.now(), t.wall());
        t.advance(Duration::from_secs(10));
        let (_, ms) = c.take_span(t.now(), t.wall()).unwrap();
        assert_eq!(ms, 160_000);
        assert!(
            c.take_span(t.now(), t.wall()).is_none(),
            "never handed out twice"
        );
    }

    #[test]
    fn hidden_time_does_not_count() {
        let t = ManualTime::new();
        let mut c = ReviewClock::new(Duration::from_secs(120));
        c.set_visible(true, t.now(), t.wall());
        t.advance(Duration::from_secs(20));
        // $EDITOR opens or the agent works: the clock stops.
        c.set_visible(false, t.now(), t.wall());
        t.advance(Duration::from_secs(300));
        c.input(t.now(), t.wall());
        assert_eq!(c.cycle_elapsed(t.now()), Duration::from_secs(20));
        c.set_visible(true, t.now(), t.wall());
        t.advance(Duration::from_secs(5));
        let started = t.wall();
        let (s, ms) = c.take_span(t.now(), t.wall()).unwrap();
        assert_eq!(ms, 25_000);
        assert!(s < started);
    }

    #[test]
    fn spans_continue_after_a_flush() {
        let t = ManualTime::new();
        let mut c = ReviewClock::new(Duration::from_secs(120));
        c.set_visible(true, t.now(), t.wall());
        t.advance(Duration::from_secs(15));
        assert_eq!(c.take_span(t.now(), t.wall()).unwrap().1, 15_000);
        t.advance(Duration::from_secs(15));
        assert_eq!(c.take_span(t.now(), t.wall()).unwrap().1, 15_000);
        assert_eq!(c.cycle_elapsed(t.now()), Duration::from_secs(30));
        c.reset_cycle(Duration::ZERO);
        assert_eq!(c.cycle_elapsed(t.now()), Duration::ZERO);
        // After a resume the cycle goes on from what the journal has, and only the new time
        // is handed out to be journaled (never the journal's own time twice).
        c.reset_cycle(Duration::from_secs(75));
        t.advance(Duration::from_secs(5));
        assert_eq!(c.cycle_elapsed(t.now()), Duration::from_secs(80));
        assert_eq!(c.take_span(t.now(), t.wall()).unwrap().1, 5_000);
    }
}
