//! `-timings`: how long each phase of a run took, and how much of it was spent inside
//! `bpf(2)` (the kernel, the verifier included) rather than in the loader itself.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One finished phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub name: &'static str,
    pub wall: Duration,
    pub in_bpf: Duration,
    pub verifier: Duration,
}

struct Running {
    name: &'static str,
    started: Instant,
    bpf_before: Duration,
    verifier_before: Duration,
}

struct State {
    enabled: bool,
    running: Option<Running>,
    phases: Vec<Phase>,
}

static STATE: Mutex<State> = Mutex::new(State {
    enabled: false,
    running: None,
    phases: Vec::new(),
});

/// Turns timing on for this process (and the verifier's statistics with it).
pub fn enable() {
    if let Ok(mut state) = STATE.lock() {
        state.enabled = true;
    }
    sys::prog::collect_verifier_stats(true);
}

fn close(state: &mut State) {
    if let Some(running) = state.running.take() {
        state.phases.push(Phase {
            name: running.name,
            wall: running.started.elapsed(),
            in_bpf: sys::time_in_bpf().0.saturating_sub(running.bpf_before),
            verifier: sys::prog::verifier_time().saturating_sub(running.verifier_before),
        });
    }
}

/// Ends the running phase (if any) and starts `name`.
pub fn phase(name: &'static str) {
    let Ok(mut state) = STATE.lock() else { return };
    if !state.enabled {
        return;
    }
    close(&mut state);
    state.running = Some(Running {
        name,
        started: Instant::now(),
        bpf_before: sys::time_in_bpf().0,
        verifier_before: sys::prog::verifier_time(),
    });
}

/// Ends the running phase and returns every phase, or `None` when timing is off.
pub fn finish() -> Option<Vec<Phase>> {
    let mut state = STATE.lock().ok()?;
    if !state.enabled {
        return None;
    }
    close(&mut state);
    Some(std::mem::take(&mut state.phases))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The table `-timings` prints.
pub fn report(phases: &[Phase]) -> String {
    let mut out = String::from("Timings (ms): wall, inside bpf(2), our own work\n");
    let mut total = Phase {
        name: "total",
        wall: Duration::ZERO,
        in_bpf: Duration::ZERO,
        verifier: Duration::ZERO,
    };
    for phase in phases {
        total.wall += phase.wall;
        total.in_bpf += phase.in_bpf;
        total.verifier += phase.verifier;
    }
    for phase in phases.iter().chain(std::iter::once(&total)) {
        let verifier = if phase.verifier.is_zero() {
            String::new()
        } else {
            format!("  (verifier {:.3})", ms(phase.verifier))
        };
        let _ = writeln!(
            out,
            "  {:<12} {:>9.3} {:>9.3} {:>9.3}{verifier}",
            phase.name,
            ms(phase.wall),
            ms(phase.in_bpf),
            ms(phase.wall.saturating_sub(phase.in_bpf))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_adds_up_the_phases() {
        let phases = [
            Phase {
                name: "parse",
                wall: Duration::from_micros(200),
                in_bpf: Duration::ZERO,
                verifier: Duration::ZERO,
            },
            Phase {
                name: "programs",
                wall: Duration::from_micros(900),
                in_bpf: Duration::from_micros(700),
                verifier: Duration::from_micros(300),
            },
        ];
        let text = report(&phases);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with("  parse"));
        assert!(
            lines[2].contains("0.900")
                && lines[2].contains("0.700")
                && lines[2].contains("(verifier 0.300)")
        );
        assert!(
            lines[3].starts_with("  total")
                && lines[3].contains("1.100")
                && lines[3].contains("0.400")
        );
    }
}
