//! The attach command, `xdploader -file OBJ -i IF[,IF...]`, from the parsed object to the
//! attached program: the entry program and interfaces checked, the interfaces locked, the
//! pin directory made ready; BTF and maps; the programs loaded and the tail calls wired
//! (a live prog array saved first); the chain checked; maps pinned; then every interface
//! attached or none. Each step is told to the caller as a line, in order.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use elf::{Object, ProgramSpec, ProgramType};

use crate::attach::modes::ModeRequest;
use crate::attach::preflight::{check_not_ours, interface_index, lock_interface};
use crate::attach::reload::share_running_chain_maps;
use crate::attach::rollback::attach_all;
use crate::attach::xdp::AttachOptions;
use crate::error::LoadError;
use crate::load::chain::check_chain;
use crate::load::core::CoreContext;
use crate::load::maps::{btf_and_maps, object_name};
use crate::load::pins::{pin_maps, prepare_pin_root_for, unpin};
use crate::load::programs::{bind_unused_maps, check_linkable, load_chain, require_xdp, ChainStep};
use crate::load::tail_calls::{
    chain_programs, clear_other_slots, fill_program_slots, set_tail_call, tail_call_plan, SlotGuard,
};
use crate::load::tracefs::printk_note;
use crate::timings;
use crate::vocab::{map_type_name, XdpMode};

/// What to attach where, as the command line says it.
#[derive(Debug, Clone)]
pub struct AttachRequest<'a> {
    /// The object file (its name prefixes global-data map names).
    pub file: &'a Path,
    /// The entry program; `<entry>_<N>` goes into slot N of its prog array.
    pub entry: &'a str,
    pub interfaces: &'a [String],
    pub mode: ModeRequest,
    pub pin_root: &'a Path,
    /// Replace a program that is not ours.
    pub force: bool,
    /// Attach through a BPF link pinned under `pin_root`.
    pub link: bool,
    /// A tail-call slot the code jumps to that no program fills is an error.
    pub strict: bool,
}

/// Loads `object` and attaches its entry program to every interface of `request`, telling
/// `say` each step as it happens. Nothing visible changes until everything is verified;
/// a failure leaves the kernel as it found it.
pub fn attach_object(
    object: &Object,
    request: &AttachRequest<'_>,
    say: &mut dyn FnMut(String),
) -> Result<(), LoadError> {
    let entry = object
        .program(request.entry)
        .ok_or_else(|| LoadError::NoSuchProgram {
            name: request.entry.to_string(),
            available: object.programs.iter().map(|p| p.name.clone()).collect(),
        })?;
    require_xdp(chain_programs(object, entry))?;
    // One kernel BTF for the checks and the loads: read at most once, and only for CO-RE.
    let core = CoreContext::default();
    check_linkable(object, chain_programs(object, entry), &core)?;
    // Interfaces first: a typo should not cost a verifier run.
    let interfaces = request
        .interfaces
        .iter()
        .map(|name| interface_index(name).map(|index| (name.as_str(), index)))
        .collect::<Result<Vec<_>, _>>()?;
    let _locks = interfaces
        .iter()
        .map(|(name, _)| lock_interface(name))
        .collect::<Result<Vec<_>, _>>()?;
    check_not_ours(&interfaces, &entry.name, request.force)?;
    let created = prepare_pin_root_for(object, request.pin_root, request.link)?;
    created.remove_if_failed(attach_prepared(
        object,
        request,
        entry,
        &interfaces,
        &core,
        say,
    ))
}

/// The attach flow once the interfaces are known and the pin directory exists.
fn attach_prepared(
    object: &Object,
    request: &AttachRequest<'_>,
    entry: &ProgramSpec,
    interfaces: &[(&str, u32)],
    core: &CoreContext,
    say: &mut dyn FnMut(String),
) -> Result<(), LoadError> {
    say(format!(
        "Dumping info for ELF file {}",
        request.file.display()
    ));
    let (btf, mut maps) = btf_and_maps(object, &object_name(request.file), request.pin_root, say)?;
    let shared = share_running_chain_maps(&mut maps, &entry.name, interfaces);
    say("Maps:".to_string());
    for (index, map) in maps.iter().enumerate() {
        let reused = match (&map.pin, map.reused) {
            (Some(path), true) => format!(" (reused from {})", path.display()),
            _ => match shared.iter().find(|(shared, _)| *shared == index) {
                Some((_, id)) => format!(" (shared with the running chain, id {id})"),
                None => String::new(),
            },
        };
        say(format!(
            "\t{}: {}, Fd {}{reused}",
            map.kernel_name,
            map_type_name(map.spec.map_type),
            map.fd.as_raw_fd()
        ));
    }
    say(String::new());
    say("Programs:".to_string());
    let license = object.license.as_deref().unwrap_or("");
    for program in &object.programs {
        say(format!(
            "\t{}: {}, size {}, license \"{license}\"",
            program.name,
            program.program_type.name(),
            program.size_bytes()
        ));
    }
    say(String::new());

    timings::phase("programs");
    let tail_calls = tail_call_plan(object, entry)?;
    let chain = load_chain(
        object,
        entry,
        tail_calls.as_ref(),
        &maps,
        btf.as_ref(),
        core,
        |step| match step {
            ChainStep::TailCalls => say("Loading tail call jumps".to_string()),
            ChainStep::Program(name) => say(format!("Loading program name {name}")),
        },
    )?;
    let prog_array = tail_calls.as_ref().map(|(index, _)| &maps[*index]);
    timings::phase("tail calls");
    let loaded = chain.all(&entry.name);
    for (map, slot, name) in fill_program_slots(&maps, &loaded)? {
        say(format!(
            "Inserting program {name} into slot {slot} of {map}"
        ));
    }

    // A reused prog array is live: if this run fails, its slots go back as they were.
    let mut slot_guard = prog_array
        .filter(|prog_array| prog_array.reused)
        .map(SlotGuard::save);
    if let Some(prog_array) = prog_array {
        for (slot, name, fd) in &chain.tail_calls {
            say(format!(
                "Inserting program {name} (fd {}) into slot {slot} of {}",
                fd.as_raw_fd(),
                prog_array.spec.name
            ));
            set_tail_call(prog_array, *slot, fd, name)?;
        }
        if prog_array.reused {
            let filled: Vec<u32> = chain.tail_calls.iter().map(|(slot, _, _)| *slot).collect();
            for slot in clear_other_slots(prog_array, &filled)? {
                say(format!(
                    "Emptied slot {slot} of {}, left over from an earlier load",
                    prog_array.spec.name
                ));
            }
        }
    }

    check_chain(object, entry, &chain, request.strict, say)?;
    let used_maps: Vec<u32> = loaded
        .iter()
        .filter_map(|(_, fd)| sys::prog::prog_info(fd.as_fd()).ok())
        .flat_map(|info| info.map_ids)
        .collect();
    bind_unused_maps(&chain.entry, &maps, &used_maps);

    timings::phase("pin");
    let pinned = pin_maps(&maps)?;
    for map in maps.iter().filter(|map| map.pin.is_some() && !map.reused) {
        if let Some(path) = &map.pin {
            say(format!(
                "Pinned map {} at {}",
                map.spec.name,
                path.display()
            ));
        }
    }

    timings::phase("attach");
    say(format!("Attaching program {}", entry.name));
    let frags = matches!(entry.program_type, ProgramType::Xdp { frags: true, .. });
    let options = AttachOptions {
        mode: request.mode,
        force: request.force,
        link: request.link,
        pin_root: request.pin_root,
        frags,
    };
    let attached = match attach_all(interfaces, &chain.entry, &entry.name, &options, &maps, say) {
        Ok(attached) => attached,
        Err(error) => {
            unpin(&pinned);
            return Err(error);
        }
    };

    let pins: Vec<String> = maps
        .iter()
        .filter_map(|map| map.pin.as_ref().map(|path| path.display().to_string()))
        .collect();
    let done: Vec<(&str, XdpMode, Option<&Path>)> = attached
        .iter()
        .map(|(name, outcome)| (*name, outcome.mode, outcome.link_pin.as_deref()))
        .collect();
    for line in attached_lines(&done) {
        say(line);
    }
    for line in printk_note(object) {
        say(line);
    }
    if !pins.is_empty() {
        say(format!(
            "Pinned maps stay until removed (the counters survive a reload): rm {}",
            pins.join(" ")
        ));
    }
    say(turn_off_line(&done));
    if let Some(guard) = slot_guard.as_mut() {
        guard.keep();
    }
    Ok(())
}

/// One line per attached interface: its mode, and the link pin when it has one.
fn attached_lines(done: &[(&str, XdpMode, Option<&Path>)]) -> Vec<String> {
    done.iter()
        .map(|(name, mode, link_pin)| {
            let how = match link_pin {
                Some(pin) => format!(" through a BPF link pinned at {}", pin.display()),
                None => String::new(),
            };
            format!(
                "XDP code attached to {name} in {} mode{how}.",
                mode.describe()
            )
        })
        .collect()
}

/// How to turn it all off again: `ip link ... off` per interface, or removing the link pin.
fn turn_off_line(done: &[(&str, XdpMode, Option<&Path>)]) -> String {
    let off: Vec<String> = done
        .iter()
        .map(|(name, mode, link_pin)| match link_pin {
            Some(pin) => format!("rm {}", pin.display()),
            None => format!("ip link set dev {name} {} off", mode.ip_link_keyword()),
        })
        .collect();
    format!("To turn it off, use `{}`", off.join(" && "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_say_where_it_runs_and_how_to_turn_it_off() {
        let link = Path::new("/sys/fs/bpf/link_veth3");
        let done = [
            ("veth1", XdpMode::Skb, None),
            ("veth3", XdpMode::Drv, Some(link)),
        ];
        assert_eq!(
            attached_lines(&done),
            [
                "XDP code attached to veth1 in generic (skb) mode.",
                "XDP code attached to veth3 in native (driver) mode through a BPF link pinned at /sys/fs/bpf/link_veth3.",
            ]
        );
        assert_eq!(
            turn_off_line(&done),
            "To turn it off, use `ip link set dev veth1 xdpgeneric off && rm /sys/fs/bpf/link_veth3`"
        );
    }
}
