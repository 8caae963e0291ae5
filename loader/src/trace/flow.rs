//! `-trace`: an object loaded and pinned as `-load-only` loads it, then each tracing
//! program attached by its section name (as libbpf's auto-attach does). Without
//! `-pin-path` the links are held until SIGINT or SIGTERM, then closed (detaching the
//! programs) and the pins removed; with it, the links are pinned beside the maps and
//! programs and stay when xdploader exits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use elf::{Object, TraceTarget};
use sys::signal::StopSignals;

use crate::load::flow::{check_object, load_all, pin_all, LoadOnly};
use crate::load::pins::{prepare_pin_root, unpin};
use crate::load::tracefs::{mounted_now_line, printk_note};
use crate::trace::error::TraceError;
use crate::trace::links::{attach, pin_links, TraceLink};
use crate::trace::plan::{plan_object, Plan};
use crate::vocab::DEFAULT_PROG;

/// What `-trace` loads and where it pins.
#[derive(Debug, Clone, Copy)]
pub struct TraceRequest<'a> {
    pub file: &'a Path,
    pub pin_root: &'a Path,
    /// `-pin-path` was given: pin the links there and return at once, leaving the
    /// programs attached.
    pub pin_links: bool,
    /// `-attach-prog`: the program fentry, fexit and freplace programs attach to.
    pub attach_prog: Option<&'a str>,
}

/// `-trace`; each step told to `say`. A failure at any step detaches what was attached
/// and removes the pins made.
pub fn trace_object(
    object: &Object,
    request: &TraceRequest<'_>,
    say: &mut dyn FnMut(String),
) -> Result<(), TraceError> {
    // Everything that can be known from the object alone, before the kernel.
    let core = check_object(object, DEFAULT_PROG, request.attach_prog)?;
    let plans = plan_object(object, request.file)?;
    // From here until the end Ctrl-C is a request to detach, not a kill that would
    // leave the pins behind.
    let signals = match request.pin_links {
        true => None,
        false => Some(StopSignals::new().map_err(TraceError::Signals)?),
    };
    let needs_tracefs = plans
        .iter()
        .any(|(_, plan)| matches!(plan, Plan::PerfEvent(TraceTarget::Tracepoint { .. })));
    if needs_tracefs && crate::trace::tracepoint::ensure_tracefs()? {
        say(mounted_now_line());
    }
    let created = prepare_pin_root(request.pin_root)?;
    let load = LoadOnly {
        file: request.file,
        entry: DEFAULT_PROG,
        pin_root: request.pin_root,
        attach_prog: request.attach_prog,
    };
    let mut pinned: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let loaded = load_all(object, &load, &core, say)?;
        // Attached first, pinned after: a target that is missing leaves no pin behind.
        let mut links: Vec<TraceLink> = Vec::new();
        let mut lines = Vec::new();
        for ((program, fd), (_, plan)) in loaded.programs.iter().zip(&plans) {
            if matches!(plan, Plan::Iterator) && !request.pin_links {
                lines.push(format!(
                    "Program {} ({}) is not attached: an iterator runs when its pinned link is read; give -pin-path DIR to pin one at DIR/link_{}",
                    program.name,
                    program.program_type.name(),
                    program.name
                ));
                continue;
            }
            let on_program = core
                .attach_prog()
                .and_then(|target| target.target_of(program));
            let attached = match (attach(program, fd, plan, on_program), plan) {
                // An iterator that needs an argument (a map, a cgroup) is refused a link
                // without one: said, and the rest goes on, as for any unattached type.
                (Err(TraceError::Link { error, .. }), Plan::Iterator) => {
                    lines.push(format!(
                        "Program {} ({}) is not attached: the kernel refused its iterator a link without arguments ({:?}); pin it with `bpftool iter pin {} PATH map id ID`",
                        program.name,
                        program.program_type.name(),
                        error.errno,
                        request.pin_root.join(&program.name).display()
                    ));
                    continue;
                }
                (attached, _) => attached?,
            };
            match (attached, plan) {
                (Some(link), _) => {
                    lines.push(link.line());
                    links.push(link);
                }
                (None, Plan::NotAttached(why)) => lines.push(format!(
                    "Program {} ({}) is not attached: {why}",
                    program.name,
                    program.program_type.name()
                )),
                (None, _) => {}
            }
        }
        pinned = pin_all(&loaded, request.pin_root, say)?;
        for line in lines {
            say(line);
        }
        for line in printk_note(object) {
            say(line);
        }
        match &signals {
            None => {
                let link_pins = pin_links(&links, request.pin_root)?;
                for (link, path) in links.iter().zip(&link_pins) {
                    say(format!(
                        "Link {} (id {}) pinned at {}",
                        link.program,
                        link.id,
                        path.display()
                    ));
                }
                for (link, path) in links.iter().zip(&link_pins) {
                    if link.kind == "iter" {
                        say(format!(
                            "Iterator {} runs each time its link is read: `cat {}`",
                            link.program,
                            path.display()
                        ));
                    }
                }
                say(format!(
                    "The programs stay attached after xdploader exits; to detach them, remove the link pins: `rm {}`",
                    request.pin_root.join("link_*").display()
                ));
                Ok(true)
            }
            Some(signals) => {
                say("Tracing; press Ctrl-C to detach".to_string());
                signals.wait(Duration::MAX).map_err(TraceError::Signals)?;
                let count = links.len();
                drop(links);
                say(format!(
                    "Detached {count} program{}; removed the pins this run made",
                    if count == 1 { "" } else { "s" }
                ));
                Ok(false)
            }
        }
    })();
    match result {
        Ok(true) => Ok(()),
        Ok(false) => {
            unpin(&pinned);
            created.remove_if_empty();
            Ok(())
        }
        Err(error) => {
            unpin(&pinned);
            created.remove_if_empty();
            Err(error)
        }
    }
}
