//! `statswatch -exceptions`: our small tracepoint program (kern/xdp_exceptions.c, built
//! into the binary by loader/build.rs) loaded, attached to `xdp:xdp_exception` and
//! `xdp:xdp_redirect_err`, and its counts read. Nothing is pinned: dropping the
//! [`ExceptionsWatch`] detaches the programs and frees the map.

use std::os::fd::AsFd;
use std::path::Path;

use elf::Object;
use sys::{MapFd, SysError};

use crate::error::LoadError;
use crate::load::core::CoreContext;
use crate::load::flow::{load_all, LoadOnly};
use crate::load::tracefs::mounted_now_line;
use crate::trace::error::TraceError;
use crate::trace::links::{attach, TraceLink};
use crate::trace::plan::plan_object;
use crate::trace::tracepoint::ensure_tracefs;
use crate::vocab::{DEFAULT_PIN_ROOT, DEFAULT_PROG};

/// Bytes at an 8-byte boundary: the ELF parser reads the headers in place, and
/// `include_bytes!` alone promises no alignment.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

/// kern/xdp_exceptions.c as loader/build.rs built it (empty when clang was missing).
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
    env!("OUT_DIR"),
    "/xdp_exceptions.elf"
)));
/// Why build.rs could not build it; empty when it did.
const UNBUILT: &str = env!("XDP_EXCEPTIONS_UNBUILT");
/// The object's name in messages, and the prefix of its global-data maps (it has none).
const OBJECT_NAME: &str = "xdp_exceptions.elf";
/// The hash map the programs count in.
pub const EXCEPTIONS_MAP: &str = "xdp_exceptions";
/// `struct exception_key`: ifindex, prog_id, action, err; four 4-byte fields.
const KEY_SIZE: usize = 16;

/// One counter: what happened where, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExceptionCount {
    pub ifindex: u32,
    pub prog_id: u32,
    /// The action the program returned (`enum xdp_action`).
    pub action: u32,
    /// 0 for an exception; the negative errno of a failed redirect.
    pub err: i32,
    pub count: u64,
}

/// The programs attached and their map; dropping it detaches and frees them.
#[derive(Debug)]
pub struct ExceptionsWatch {
    pub links: Vec<TraceLink>,
    map: MapFd,
}

/// Loads and attaches the exceptions programs, each step told to `say`.
pub fn start_exceptions(say: &mut dyn FnMut(String)) -> Result<ExceptionsWatch, TraceError> {
    if !UNBUILT.is_empty() {
        return Err(TraceError::ExceptionsUnbuilt {
            why: UNBUILT.to_string(),
        });
    }
    let file = Path::new(OBJECT_NAME);
    let object = Object::parse(&OBJECT.0).map_err(|error| {
        TraceError::Load(LoadError::Parse {
            path: file.to_path_buf(),
            error,
        })
    })?;
    let plans = plan_object(&object, file)?;
    if ensure_tracefs()? {
        say(mounted_now_line());
    }
    let request = LoadOnly {
        file,
        entry: DEFAULT_PROG,
        // Only for maps that ask to be pinned; this object's do not.
        pin_root: Path::new(DEFAULT_PIN_ROOT),
        attach_prog: None,
    };
    // Our own object has no CO-RE relocations: the kernel's BTF is never read.
    let loaded = load_all(&object, &request, &CoreContext::default(), say)?;
    let mut links = Vec::new();
    for ((program, fd), (_, plan)) in loaded.programs.iter().zip(&plans) {
        if let Some(link) = attach(program, fd, plan, None)? {
            say(link.line());
            links.push(link);
        }
    }
    let map = loaded
        .maps
        .into_iter()
        .find(|map| map.spec.name == EXCEPTIONS_MAP)
        .map(|map| map.fd)
        .ok_or_else(|| TraceError::ExceptionsUnbuilt {
            why: format!("the built object has no map {EXCEPTIONS_MAP}"),
        })?;
    Ok(ExceptionsWatch { links, map })
}

impl ExceptionsWatch {
    /// Every counter, sorted by interface, program, action and errno.
    pub fn read(&self) -> Result<Vec<ExceptionCount>, SysError> {
        let fd = self.map.as_fd();
        let mut counts = Vec::new();
        let mut key = [0u8; KEY_SIZE];
        let mut previous: Option<[u8; KEY_SIZE]> = None;
        while sys::map::map_get_next_key(fd, previous.as_ref().map(|key| &key[..]), &mut key)? {
            let mut value = [0u8; 8];
            // A key deleted between the two calls is no counter.
            if sys::map::map_lookup_elem(fd, &key, &mut value)? {
                counts.push(decode(&key, &value));
            }
            previous = Some(key);
        }
        counts.sort();
        Ok(counts)
    }
}

fn decode(key: &[u8; KEY_SIZE], value: &[u8; 8]) -> ExceptionCount {
    let field = |at: usize| u32::from_ne_bytes([key[at], key[at + 1], key[at + 2], key[at + 3]]);
    ExceptionCount {
        ifindex: field(0),
        prog_id: field(4),
        action: field(8),
        err: field(12) as i32,
        count: u64::from_ne_bytes(*value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_field_by_field() {
        let mut key = [0u8; KEY_SIZE];
        key[0..4].copy_from_slice(&7u32.to_ne_bytes());
        key[4..8].copy_from_slice(&42u32.to_ne_bytes());
        key[8..12].copy_from_slice(&4u32.to_ne_bytes());
        key[12..16].copy_from_slice(&(-100i32).to_ne_bytes());
        assert_eq!(
            decode(&key, &3u64.to_ne_bytes()),
            ExceptionCount {
                ifindex: 7,
                prog_id: 42,
                action: 4,
                err: -100,
                count: 3
            }
        );
    }

    #[test]
    fn the_program_is_built_in() {
        if UNBUILT.is_empty() {
            let object = Object::parse(&OBJECT.0).expect("the built object parses");
            let names: Vec<&str> = object.programs.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["xdp_exc_count", "xdp_redir_err"]);
        }
    }
}
