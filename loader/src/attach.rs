//! Attaching safely: what is on an interface now, native-mode checks, atomic replace,
//! BPF links, rollback, detach.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sys::abi::*;
use sys::link::LinkFd;
use sys::netlink::{self, LinkState, NetlinkError};
use sys::ProgFd;

use crate::error::LoadError;
use crate::load::maps::LiveMap;
use crate::load::tail_calls::prog_array_slots;
use crate::vocab::{same_program_name, XdpMode};

/// The mode asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeRequest {
    /// Native if the interface can take it, else generic (saying why).
    Auto,
    Exactly(XdpMode),
}

/// How a program is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Netlink,
    Link { id: u32 },
}

/// The XDP program on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub prog_id: u32,
    pub name: String,
    pub mode: XdpMode,
    pub method: Method,
}

fn attached_mode(state: &LinkState) -> Option<(u32, XdpMode)> {
    let xdp = &state.xdp;
    match xdp.attached {
        XDP_ATTACHED_SKB => Some((xdp.prog_id, XdpMode::Skb)),
        XDP_ATTACHED_DRV => Some((xdp.prog_id, XdpMode::Drv)),
        XDP_ATTACHED_HW => Some((xdp.prog_id, XdpMode::Hw)),
        // Several at once: report the first the kernel lists.
        XDP_ATTACHED_MULTI => [
            (xdp.drv_prog_id, XdpMode::Drv),
            (xdp.skb_prog_id, XdpMode::Skb),
            (xdp.hw_prog_id, XdpMode::Hw),
        ]
        .into_iter()
        .find(|(id, _)| *id != 0),
        _ => None,
    }
}

fn query_error(interface: &str, error: NetlinkError) -> LoadError {
    LoadError::Attach {
        interface: interface.to_string(),
        mode: "any",
        error,
    }
}

/// The program attached to `ifindex`, if any, and through what.
pub fn attached(interface: &str, ifindex: u32) -> Result<Option<Attached>, LoadError> {
    let state = netlink::link_query(ifindex).map_err(|error| query_error(interface, error))?;
    let Some((prog_id, mode)) = attached_mode(&state) else {
        return Ok(None);
    };
    let name = sys::prog::prog_fd_by_id(prog_id)
        .and_then(|fd| sys::prog::prog_info(fd.as_fd()))
        .map(|info| info.name)
        .unwrap_or_else(|_| format!("program {prog_id}"));
    let method = match sys::link::xdp_link_on(ifindex) {
        Ok(Some((_, info))) if info.prog_id == prog_id => Method::Link { id: info.id },
        _ => Method::Netlink,
    };
    Ok(Some(Attached {
        prog_id,
        name,
        mode,
        method,
    }))
}

/// Roughly `SKB_WITH_OVERHEAD(PAGE_SIZE - VETH_XDP_HEADROOM) - ETH_HLEN` on x86-64: the
/// largest peer MTU veth accepts for native XDP without multi-buffer support.
const VETH_NATIVE_XDP_MAX_MTU: u32 = 3506;

/// Why native XDP would fail on this interface, judged before asking the kernel.
pub fn native_mode_obstacle(
    interface: &str,
    ifindex: u32,
    frags: bool,
) -> Result<Option<String>, LoadError> {
    let state = netlink::link_query(ifindex).map_err(|error| query_error(interface, error))?;
    if state.kind != "veth" {
        return Ok(None);
    }
    if state.peer_in_other_netns || state.peer_ifindex == 0 {
        // The peer is out of sight; veth pairs normally share one MTU.
        if !frags && state.mtu > VETH_NATIVE_XDP_MAX_MTU {
            return Ok(Some(format!(
                "{interface} is a veth with MTU {} (its peer, in another namespace, likely the same), more than the {VETH_NATIVE_XDP_MAX_MTU} bytes one page holds for native XDP; lower the MTU of both ends or build the program as xdp.frags",
                state.mtu
            )));
        }
        return Ok(None);
    }
    let peer =
        netlink::link_query(state.peer_ifindex).map_err(|error| query_error(interface, error))?;
    if !peer.up {
        return Ok(Some(format!(
            "the veth peer of {interface}, {}, is down: native XDP on veth needs the peer up (ip link set dev {} up)",
            peer.name, peer.name
        )));
    }
    if !frags && peer.mtu > VETH_NATIVE_XDP_MAX_MTU {
        return Ok(Some(format!(
            "the veth peer of {interface}, {}, has MTU {}, more than the {VETH_NATIVE_XDP_MAX_MTU} bytes one page holds for native XDP; lower it (ip link set dev {} mtu 1500) or build the program as xdp.frags",
            peer.name, peer.mtu, peer.name
        )));
    }
    Ok(None)
}

/// What `attach` did, and how to undo it.
#[derive(Debug)]
pub struct AttachOutcome {
    pub mode: XdpMode,
    /// Why native mode was not used under `-mode auto`.
    pub fallback: Option<String>,
    /// The program that was replaced.
    pub replaced: Option<Attached>,
    pub link_pin: Option<PathBuf>,
    pub undo: Undo,
}

/// How to put an interface back as it was before `attach`.
#[derive(Debug)]
pub enum Undo {
    Detach {
        ifindex: u32,
        mode: XdpMode,
    },
    Restore {
        ifindex: u32,
        mode: XdpMode,
        old: ProgFd,
    },
    RemoveLink {
        link: LinkFd,
        pin: PathBuf,
    },
    RestoreLink {
        link: LinkFd,
        old: ProgFd,
    },
    /// `first` undone, then `old` attached again in `mode`: it had been detached to
    /// switch the mode or to move to a BPF link.
    Reattach {
        first: Box<Undo>,
        ifindex: u32,
        mode: XdpMode,
        old: ProgFd,
    },
}

/// Options for `attach`.
#[derive(Debug, Clone)]
pub struct AttachOptions<'a> {
    pub mode: ModeRequest,
    /// Replace a program that is not ours.
    pub force: bool,
    /// Attach through a BPF link pinned under `pin_root`.
    pub link: bool,
    pub pin_root: &'a Path,
    /// The program is `xdp.frags` (multi-buffer): MTU limits do not apply.
    pub frags: bool,
}

/// Where the BPF link for an interface is pinned: bpffs refuses dots, which VLAN names have.
pub fn link_pin_path(pin_root: &Path, interface: &str) -> PathBuf {
    pin_root.join(format!("link_{}", interface.replace('.', "_")))
}

fn attach_error(interface: &str, mode: XdpMode, error: NetlinkError) -> LoadError {
    LoadError::Attach {
        interface: interface.to_string(),
        mode: mode.describe(),
        error,
    }
}

fn link_error(interface: &str, mode: XdpMode, error: sys::SysError) -> LoadError {
    attach_error(
        interface,
        mode,
        NetlinkError {
            op: error.op,
            ifindex: 0,
            errno: error.errno,
            extack: None,
        },
    )
}

/// Refuses to touch `current` on `interface` unless it is `entry` or `force` is given;
/// `detaching` picks the sentence for `-detach`.
pub fn ensure_ours(
    interface: &str,
    current: &Attached,
    entry: &str,
    force: bool,
    detaching: bool,
) -> Result<(), LoadError> {
    if force || same_program_name(&current.name, entry) {
        return Ok(());
    }
    Err(LoadError::NotOurs {
        interface: interface.to_string(),
        name: current.name.clone(),
        id: current.prog_id,
        mode: current.mode.describe(),
        via_link: matches!(current.method, Method::Link { .. }),
        detaching: detaching.then(|| entry.to_string()),
    })
}

/// Attaches `prog` (named `entry`) to `interface`: replaces our own program atomically,
/// refuses someone else's unless forced, falls back from native under `-mode auto`.
pub fn attach(
    interface: &str,
    ifindex: u32,
    prog: &ProgFd,
    entry: &str,
    options: &AttachOptions<'_>,
    say: &mut dyn FnMut(String),
) -> Result<AttachOutcome, LoadError> {
    let current = attached(interface, ifindex)?;
    if let Some(current) = &current {
        ensure_ours(interface, current, entry, options.force, false)?;
    }

    // A program attached through a link is swapped inside the link, whatever was asked.
    if let Some(
        current @ Attached {
            method: Method::Link { id },
            ..
        },
    ) = &current
    {
        let link = sys::link::link_fd_by_id(*id)
            .map_err(|error| link_error(interface, current.mode, error))?;
        let old = sys::prog::prog_fd_by_id(current.prog_id)
            .map_err(|error| link_error(interface, current.mode, error))?;
        sys::link::link_update(link.as_fd(), prog.as_fd(), Some(old.as_fd()))
            .map_err(|error| link_error(interface, current.mode, error))?;
        say(format!(
            "Replaced {} (id {}) in the BPF link on {interface}",
            current.name, current.prog_id
        ));
        return Ok(AttachOutcome {
            mode: current.mode,
            fallback: None,
            replaced: Some(current.clone()),
            link_pin: Some(link_pin_path(options.pin_root, interface)),
            undo: Undo::RestoreLink { link, old },
        });
    }

    let (mode, fallback) = match options.mode {
        ModeRequest::Exactly(mode) => (mode, None),
        ModeRequest::Auto => match native_mode_obstacle(interface, ifindex, options.frags)? {
            Some(reason) => (XdpMode::Skb, Some(reason)),
            None => (XdpMode::Drv, None),
        },
    };
    if let Some(reason) = &fallback {
        say(format!(
            "Native mode is not possible: {reason}; using generic (skb) mode"
        ));
    }

    // Our program in another mode, or a switch to a link: the old one must go first. It is
    // held, so that a failure or a rollback can put it back.
    let mut detached_first: Option<(XdpMode, ProgFd)> = None;
    if let Some(current) = &current {
        if current.mode != mode || options.link {
            let old = sys::prog::prog_fd_by_id(current.prog_id)
                .map_err(|error| link_error(interface, current.mode, error))?;
            say(format!(
                "Detaching {} (id {}) from {interface} ({} mode) first: the kernel allows one mode at a time, and a link only on a free interface",
                current.name,
                current.prog_id,
                current.mode.describe()
            ));
            netlink::xdp_detach(ifindex, current.mode.flags())
                .map_err(|error| attach_error(interface, current.mode, error))?;
            detached_first = Some((current.mode, old));
        }
    }
    // After a failure: the program detached above goes back, and the user is told.
    let put_back = |detached: Option<(XdpMode, ProgFd)>, say: &mut dyn FnMut(String)| {
        if let (Some((old_mode, old)), Some(current)) = (detached, &current) {
            if reattach_old(ifindex, old_mode, &old) {
                say(format!(
                    "Put {} (id {}) back on {interface} ({} mode)",
                    current.name,
                    current.prog_id,
                    old_mode.describe()
                ));
            }
        }
    };
    let replacing = current
        .clone()
        .filter(|current| current.mode == mode && !options.link);

    let attempt = |mode: XdpMode| -> Result<Undo, LoadError> {
        if options.link {
            let link = sys::link::xdp_link_create(prog.as_fd(), ifindex, mode.flags())
                .map_err(|error| link_error(interface, mode, error))?;
            let pin = link_pin_path(options.pin_root, interface);
            let _ = std::fs::remove_file(&pin);
            sys::obj::obj_pin(link.as_fd(), &pin).map_err(|error| LoadError::Pin {
                map: format!("the BPF link of {interface}"),
                path: pin.clone(),
                error,
            })?;
            return Ok(Undo::RemoveLink { link, pin });
        }
        match &replacing {
            Some(current) => {
                // Atomic: the kernel swaps only if `current` is still the one attached.
                let old = sys::prog::prog_fd_by_id(current.prog_id)
                    .map_err(|error| link_error(interface, mode, error))?;
                netlink::xdp_attach(
                    ifindex,
                    prog.as_fd(),
                    mode.flags() | XDP_FLAGS_REPLACE,
                    Some(old.as_fd()),
                )
                .map_err(|error| attach_error(interface, mode, error))?;
                Ok(Undo::Restore { ifindex, mode, old })
            }
            None => {
                netlink::xdp_attach(
                    ifindex,
                    prog.as_fd(),
                    mode.flags() | XDP_FLAGS_UPDATE_IF_NOEXIST,
                    None,
                )
                .map_err(|error| attach_error(interface, mode, error))?;
                Ok(Undo::Detach { ifindex, mode })
            }
        }
    };

    let (mode, fallback, undo) = match (attempt(mode), options.mode) {
        (Ok(undo), _) => (mode, fallback, undo),
        (Err(LoadError::Attach { error, .. }), ModeRequest::Auto) if mode == XdpMode::Drv => {
            let mut reason = format!("the kernel refused native mode ({}", error.errno.desc());
            if let Some(message) = &error.extack {
                reason.push_str(&format!(": {message}"));
            }
            reason.push(')');
            say(format!(
                "Native mode is not possible: {reason}; using generic (skb) mode"
            ));
            match attempt(XdpMode::Skb) {
                Ok(undo) => (XdpMode::Skb, Some(reason), undo),
                Err(error) => {
                    put_back(detached_first, say);
                    return Err(error);
                }
            }
        }
        (Err(error), _) => {
            put_back(detached_first, say);
            return Err(error);
        }
    };
    if let Some(replaced) = &replacing {
        say(format!(
            "Replaced {} (id {}) on {interface} atomically",
            replaced.name, replaced.prog_id
        ));
    }
    let link_pin = match &undo {
        Undo::RemoveLink { pin, .. } => Some(pin.clone()),
        _ => None,
    };
    let undo = match detached_first {
        Some((old_mode, old)) => Undo::Reattach {
            first: Box::new(undo),
            ifindex,
            mode: old_mode,
            old,
        },
        None => undo,
    };
    Ok(AttachOutcome {
        mode,
        fallback,
        replaced: replacing,
        link_pin,
        undo,
    })
}

/// Attaches `old` again in `mode` (best effort: it runs on failure paths).
fn reattach_old(ifindex: u32, mode: XdpMode, old: &ProgFd) -> bool {
    netlink::xdp_attach(
        ifindex,
        old.as_fd(),
        mode.flags() | XDP_FLAGS_UPDATE_IF_NOEXIST,
        None,
    )
    .is_ok()
}

/// Puts an interface back as it was before `attach` (best effort: it runs on failure paths).
pub fn undo(undo: Undo) {
    match undo {
        Undo::Detach { ifindex, mode } => {
            let _ = netlink::xdp_detach(ifindex, mode.flags());
        }
        Undo::Restore { ifindex, mode, old } => {
            let _ = netlink::xdp_attach(ifindex, old.as_fd(), mode.flags(), None);
        }
        Undo::RemoveLink { link, pin } => {
            let _ = sys::link::link_detach(link.as_fd());
            let _ = std::fs::remove_file(pin);
        }
        Undo::RestoreLink { link, old } => {
            let _ = sys::link::link_update(link.as_fd(), old.as_fd(), None);
        }
        Undo::Reattach {
            first,
            ifindex,
            mode,
            old,
        } => {
            self::undo(*first);
            reattach_old(ifindex, mode, &old);
        }
    }
}

/// Removes the program from `interface`, however it was attached. Returns what was there
/// and the link pins it removed.
pub fn detach(
    interface: &str,
    ifindex: u32,
    pin_root: &Path,
) -> Result<Option<(Attached, Vec<PathBuf>)>, LoadError> {
    let Some(current) = attached(interface, ifindex)? else {
        return Ok(None);
    };
    let mut removed = Vec::new();
    match current.method {
        Method::Link { id } => {
            let link = sys::link::link_fd_by_id(id)
                .map_err(|error| link_error(interface, current.mode, error))?;
            sys::link::link_detach(link.as_fd())
                .map_err(|error| link_error(interface, current.mode, error))?;
            for pin in pins_of(pin_root, |fd| {
                sys::obj::object_kind(fd) == sys::obj::ObjectKind::Link
                    && sys::link::link_info(fd).is_ok_and(|info| info.id == id)
            }) {
                if std::fs::remove_file(&pin).is_ok() {
                    removed.push(pin);
                }
            }
        }
        Method::Netlink => {
            netlink::xdp_detach(ifindex, current.mode.flags())
                .map_err(|error| attach_error(interface, current.mode, error))?;
        }
    }
    Ok(Some((current, removed)))
}

/// The pins under `root` (and one level of sub-directories) whose object satisfies `matches`.
pub fn pins_of(root: &Path, matches: impl Fn(std::os::fd::BorrowedFd<'_>) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut directories = vec![(root.to_path_buf(), 0)];
    while let Some((directory, depth)) = directories.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        let mut entries: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if depth < 1 {
                    directories.push((path, depth + 1));
                }
                continue;
            }
            if let Ok(fd) = sys::obj::obj_get(&path) {
                if matches(fd.as_fd()) {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// The pins under `root` of the maps with these ids.
pub fn map_pins(root: &Path, map_ids: &[u32]) -> Vec<PathBuf> {
    pins_of(root, |fd| {
        sys::obj::object_kind(fd) == sys::obj::ObjectKind::Map
            && sys::map::map_info(fd).is_ok_and(|info| map_ids.contains(&info.id))
    })
}

/// A filled tail-call slot: (prog array id, prog array name, slot, program id).
pub type FilledSlot = (u32, String, u32, u32);

/// Every map a program reaches: its own, and those of the programs in the slots of the
/// prog arrays it uses, transitively. Also returns the tail-call slots found on the way.
pub fn reachable_maps(prog_id: u32) -> (Vec<u32>, Vec<FilledSlot>) {
    let mut maps: Vec<u32> = Vec::new();
    let mut slots = Vec::new();
    let mut programs = vec![prog_id];
    let mut seen_programs = Vec::new();
    while let Some(id) = programs.pop() {
        if seen_programs.contains(&id) {
            continue;
        }
        seen_programs.push(id);
        let Ok(info) = sys::prog::prog_fd_by_id(id).and_then(|fd| sys::prog::prog_info(fd.as_fd()))
        else {
            continue;
        };
        for map_id in info.map_ids {
            if maps.contains(&map_id) {
                continue;
            }
            maps.push(map_id);
            let Ok(map) = sys::map::map_fd_by_id(map_id) else {
                continue;
            };
            let Ok(map_info) = sys::map::map_info(map.as_fd()) else {
                continue;
            };
            if map_info.map_type == BPF_MAP_TYPE_PROG_ARRAY {
                for (slot, target) in prog_array_slots(map.as_fd(), map_info.max_entries) {
                    slots.push((map_id, map_info.name.clone(), slot, target));
                    programs.push(target);
                }
            }
        }
    }
    (maps, slots)
}

/// Held while a run changes an interface: a second run on the same interface fails at
/// once instead of racing the first.
#[derive(Debug)]
pub struct InterfaceLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Locks `interface` for this run, or says who holds it.
pub fn lock_interface(interface: &str) -> Result<InterfaceLock, LoadError> {
    // Interface names repeat across network namespaces; the namespace's inode tells them apart.
    let netns = std::fs::metadata("/proc/self/ns/net")
        .map(|meta| std::os::unix::fs::MetadataExt::ino(&meta))
        .unwrap_or(0);
    let file = crate::lock::lock_file(&format!(
        "xdploader-{netns}-{}.lock",
        interface.replace('/', "_")
    ))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map(|lock| InterfaceLock { _lock: lock })
        .map_err(|_| LoadError::Busy {
            interface: interface.to_string(),
        })
}

/// Refuses, before loading anything, to replace a program on any of `interfaces` that is
/// not `entry` (unless forced).
pub fn check_not_ours(
    interfaces: &[(&str, u32)],
    entry: &str,
    force: bool,
) -> Result<(), LoadError> {
    for (interface, ifindex) in interfaces {
        if let Some(current) = attached(interface, *ifindex)? {
            ensure_ours(interface, &current, entry, force, false)?;
        }
    }
    Ok(())
}

/// Looks up an interface's index.
pub fn interface_index(name: &str) -> Result<u32, LoadError> {
    sys::iface::ifindex(name).map_err(|error| LoadError::Interface {
        name: name.to_string(),
        error,
    })
}

/// What happened when writing an interface into the redirect devmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectEntry {
    Inserted,
    /// A plain devmap is indexed by slot; this ifindex is beyond its size.
    DoesNotFit {
        max_entries: u32,
    },
}

/// `if_redirect[ifindex] = ifindex`, as the original did, so programs can redirect to
/// every interface they are attached to.
pub fn add_redirect(devmap: &LiveMap, ifindex: u32) -> Result<RedirectEntry, LoadError> {
    if devmap.spec.map_type == BPF_MAP_TYPE_DEVMAP && ifindex >= devmap.spec.max_entries {
        return Ok(RedirectEntry::DoesNotFit {
            max_entries: devmap.spec.max_entries,
        });
    }
    sys::map::map_update_elem(
        devmap.fd.as_fd(),
        &ifindex.to_ne_bytes(),
        &ifindex.to_ne_bytes(),
        BPF_ANY,
    )
    .map_err(|error| LoadError::MapUpdate {
        map: devmap.spec.name.clone(),
        what: format!("insert ifindex {ifindex}"),
        error,
    })?;
    Ok(RedirectEntry::Inserted)
}
