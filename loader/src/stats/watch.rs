//! `-watch`: the live view's loop. A sample every interval, its rates against the one
//! before (a new baseline when the map was replaced or its counters went down), a pin
//! that went away waited for, and Ctrl-C or SIGTERM ending the loop, not the process. What
//! a sample looks like is the binary's: it draws each one through a [`View`].

use std::path::Path;
use std::time::{Duration, Instant};

use sys::signal::StopSignals;
use sys::{MapFd, MapInfo};

use crate::stats::error::StatsError;
use crate::stats::rates::{Observation, Watch};
use crate::stats::read::{open_map, read_sample, Cpus};

/// Where the live view goes.
pub trait View {
    /// A line that stays above the live view: a new baseline, a pin gone missing.
    fn notice(&mut self, text: &str) -> Result<(), StatsError>;
    /// A sample with its rates; `reset` is the notice that came just before it, if any.
    fn sample(&mut self, observation: &Observation, reset: Option<&str>) -> Result<(), StatsError>;
}

/// From here on Ctrl-C and SIGTERM end the live view's loop, not the process (so the
/// terminal is restored). Taken before anything is drawn.
pub fn stop_signals() -> Result<StopSignals, StatsError> {
    StopSignals::new().map_err(StatsError::Signals)
}

/// Samples the map pinned at `pin` every `interval` (`first` is the map already opened)
/// until a stop signal or `count` samples, drawing each through `view`.
pub fn watch(
    signals: &StopSignals,
    pin: &Path,
    cpus: &Cpus,
    first: (MapFd, MapInfo),
    interval: Duration,
    count: Option<u64>,
    view: &mut dyn View,
) -> Result<(), StatsError> {
    let pin_text = pin.display().to_string();
    let start = Instant::now();
    let mut next = start;
    let mut baseline = Watch::default();
    let mut opened = Some(first);
    let mut waiting = false;
    let mut taken: u64 = 0;
    loop {
        let current = match opened.take() {
            Some(current) => Some(current),
            None => match open_map(pin) {
                Ok(current) => Some(current),
                Err(StatsError::NothingPinned { .. }) => None,
                Err(error) => return Err(error),
            },
        };
        match current {
            Some((map, info)) => {
                waiting = false;
                let monotonic = start.elapsed().as_secs_f64();
                let sample = read_sample(&map, &info, cpus, pin, monotonic)?;
                let observation = baseline.observe(sample);
                let reset_text = observation
                    .reset
                    .as_ref()
                    .map(|reset| reset.describe(&info.name, &pin_text));
                if let Some(text) = &reset_text {
                    view.notice(text)?;
                }
                view.sample(&observation, reset_text.as_deref())?;
            }
            None if !waiting => {
                waiting = true;
                view.notice(&format!(
                    "no map is pinned at {pin_text} any more; waiting for one to appear (Ctrl-C to stop)"
                ))?;
            }
            None => {}
        }
        taken += 1;
        if count.is_some_and(|count| taken >= count) {
            return Ok(());
        }
        let now = Instant::now();
        next = match next.checked_add(interval) {
            // Reading took longer than the interval: start counting again from now.
            Some(due) if due < now => now.checked_add(interval).unwrap_or(now),
            Some(due) => due,
            None => now,
        };
        let stop = signals
            .wait(next.saturating_duration_since(now))
            .map_err(StatsError::Wait)?;
        if stop.is_some() {
            return Ok(());
        }
    }
}
