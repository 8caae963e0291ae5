//! Programs: load (with the verifier log on failure), describe.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nix::errno::Errno;

use crate::abi::*;
use crate::bpf::{
    bpf, bpf_fd, object_name, ptr, GetFdByIdAttr, InfoAttr, ProgBindMapAttr, ProgLoadAttr,
};
use crate::error::SysError;
use crate::map::name_from_kernel;

/// A program file descriptor.
#[derive(Debug)]
pub struct ProgFd(OwnedFd);

impl ProgFd {
    pub fn into_owned(self) -> OwnedFd {
        self.0
    }
}

impl AsFd for ProgFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for ProgFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// What `BPF_PROG_LOAD` needs.
#[derive(Debug, Clone)]
pub struct ProgLoad<'a> {
    pub name: &'a str,
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub prog_flags: u32,
    /// Instructions, 8 bytes each, already relocated.
    pub insns: &'a [[u8; 8]],
    pub license: &'a str,
    pub kern_version: u32,
    /// BTF for func_info and line_info; both are `None` without it.
    pub btf: Option<ProgBtf<'a>>,
    /// `attach_btf_id`: the BTF type id of the attach target (tracing, LSM, ext), or 0.
    pub attach_btf_id: u32,
    /// `attach_prog_fd` / `attach_btf_obj_fd` (one field in the kernel): the program
    /// whose function `attach_btf_id` names, or the module BTF that holds it; `None`
    /// for vmlinux.
    pub attach_fd: Option<i32>,
    /// `fd_array`: the module BTF objects that kfunc calls name by index (their
    /// instruction's `off`); index 0 is never used. Empty: none.
    pub fd_array: &'a [i32],
}

/// A program's BTF: the object's BTF fd and the `bpf_func_info` / `bpf_line_info` records,
/// already in linked-instruction units.
#[derive(Debug, Clone, Copy)]
pub struct ProgBtf<'a> {
    pub btf_fd: i32,
    pub func_info_rec_size: u32,
    /// `func_info_rec_size` bytes per record.
    pub func_info: &'a [u8],
    pub line_info_rec_size: u32,
    pub line_info: &'a [u8],
}

/// The kernel refused a program; `log` holds the verifier's log when it wrote one.
#[derive(Debug)]
pub struct ProgLoadError {
    pub name: String,
    pub errno: Errno,
    pub log: String,
}

impl fmt::Display for ProgLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BPF_PROG_LOAD for program {} failed: {} ({:?})",
            self.name,
            self.errno.desc(),
            self.errno
        )
    }
}

impl std::error::Error for ProgLoadError {}

/// The first verifier log buffer; grown when the kernel says the log did not fit.
const INITIAL_LOG_SIZE: usize = 64 * 1024;
/// The kernel caps `log_size` at `UINT_MAX >> 2`; stop well before that.
const MAX_LOG_SIZE: usize = 256 * 1024 * 1024;
/// `BPF_PROG_LOAD` can fail with EAGAIN when the verifier is interrupted; libbpf retries 5 times.
const EAGAIN_RETRIES: usize = 5;
/// `log_level` 1: the verifier's normal log.
const LOG_LEVEL_VERIFIER: u32 = 1;
/// `BPF_LOG_STATS`: only the verifier's statistics, including its time.
const BPF_LOG_STATS: u32 = 4;
/// Room for the statistics lines.
const STATS_LOG_SIZE: usize = 4096;

static VERIFIER_STATS: AtomicBool = AtomicBool::new(false);
static VERIFIER_MICROS: AtomicU64 = AtomicU64::new(0);

/// Asks the verifier for its statistics on every load from now on (`-timings`), so
/// its own time can be reported.
pub fn collect_verifier_stats(on: bool) {
    VERIFIER_STATS.store(on, Ordering::Relaxed);
}

/// The verifier's time over the loads made with statistics on, as it reports it.
pub fn verifier_time() -> Duration {
    Duration::from_micros(VERIFIER_MICROS.load(Ordering::Relaxed))
}

/// Adds the "verification time N usec" of a statistics log.
fn record_verification_time(log: &str) {
    let micros = log
        .lines()
        .filter_map(|line| line.strip_prefix("verification time "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|number| number.parse::<u64>().ok())
        .sum::<u64>();
    VERIFIER_MICROS.fetch_add(micros, Ordering::Relaxed);
}

fn load_once(
    spec: &ProgLoad<'_>,
    license: &[u8],
    log: Option<&mut Vec<u8>>,
    log_level: u32,
) -> (Result<ProgFd, Errno>, u32) {
    let mut attr = ProgLoadAttr {
        prog_type: spec.prog_type,
        insn_cnt: spec.insns.len() as u32,
        insns: ptr(spec.insns.as_ptr()),
        license: ptr(license.as_ptr()),
        kern_version: spec.kern_version,
        prog_flags: spec.prog_flags,
        prog_name: object_name(spec.name),
        expected_attach_type: spec.expected_attach_type,
        attach_btf_id: spec.attach_btf_id,
        attach_prog_fd: spec.attach_fd.map_or(0, |fd| fd as u32),
        fd_array: if spec.fd_array.is_empty() {
            0
        } else {
            ptr(spec.fd_array.as_ptr())
        },
        ..Default::default()
    };
    if let Some(btf) = spec.btf {
        attr.prog_btf_fd = btf.btf_fd as u32;
        if btf.func_info_rec_size > 0 && !btf.func_info.is_empty() {
            attr.func_info_rec_size = btf.func_info_rec_size;
            attr.func_info = ptr(btf.func_info.as_ptr());
            attr.func_info_cnt = (btf.func_info.len() / btf.func_info_rec_size as usize) as u32;
        }
        if btf.line_info_rec_size > 0 && !btf.line_info.is_empty() {
            attr.line_info_rec_size = btf.line_info_rec_size;
            attr.line_info = ptr(btf.line_info.as_ptr());
            attr.line_info_cnt = (btf.line_info.len() / btf.line_info_rec_size as usize) as u32;
        }
    }
    if let Some(buffer) = log {
        attr.log_level = log_level;
        attr.log_size = buffer.len() as u32;
        attr.log_buf = ptr(buffer.as_mut_ptr());
    }
    let mut result = Err(Errno::EAGAIN);
    for _ in 0..EAGAIN_RETRIES {
        result = bpf_fd(BPF_PROG_LOAD, &mut attr)
            .map(ProgFd)
            .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)));
        if result.as_ref().err() != Some(&Errno::EAGAIN) {
            break;
        }
    }
    (result, attr.log_true_size)
}

/// Loads a program. The first attempt asks for no log (the fast path); when the kernel
/// refuses, the load is repeated with the verifier log on, growing the buffer until the
/// whole log fits.
pub fn prog_load(spec: &ProgLoad<'_>) -> Result<ProgFd, ProgLoadError> {
    let mut license = spec.license.as_bytes().to_vec();
    license.push(0);
    let first = if VERIFIER_STATS.load(Ordering::Relaxed) {
        // Only the statistics: the verifier's own account of its time.
        let mut buffer = vec![0u8; STATS_LOG_SIZE];
        let (result, _) = load_once(spec, &license, Some(&mut buffer), BPF_LOG_STATS);
        if result.is_ok() {
            record_verification_time(&name_from_kernel(&buffer));
        }
        result
    } else {
        load_once(spec, &license, None, 0).0
    };
    let first_errno = match first {
        Ok(fd) => return Ok(fd),
        Err(errno) => errno,
    };
    let mut size = INITIAL_LOG_SIZE;
    loop {
        let mut buffer = vec![0u8; size];
        let (result, true_size) = load_once(spec, &license, Some(&mut buffer), LOG_LEVEL_VERIFIER);
        match result {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOSPC) if size < MAX_LOG_SIZE => {
                let needed = true_size as usize;
                size = if needed > size { needed } else { size * 4 }.min(MAX_LOG_SIZE);
            }
            Err(errno) => {
                let errno = if errno == Errno::ENOSPC {
                    first_errno
                } else {
                    errno
                };
                return Err(ProgLoadError {
                    name: spec.name.to_string(),
                    errno,
                    log: name_from_kernel(&buffer).trim_end().to_string(),
                });
            }
        }
    }
}

/// Ties a map's lifetime to a program that does not reference it in its code
/// (`BPF_PROG_BIND_MAP`, Linux 5.10+).
pub fn prog_bind_map(prog: BorrowedFd<'_>, map: BorrowedFd<'_>) -> Result<(), SysError> {
    let mut attr = ProgBindMapAttr {
        prog_fd: prog.as_raw_fd() as u32,
        map_fd: map.as_raw_fd() as u32,
        flags: 0,
    };
    bpf(BPF_PROG_BIND_MAP, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_PROG_BIND_MAP", "program", error))
}

/// `struct bpf_prog_info`, up to the fields this project reads.
#[repr(C)]
#[derive(Default)]
struct BpfProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; BPF_TAG_SIZE],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; BPF_OBJ_NAME_LEN],
    ifindex: u32,
    /// `gpl_compatible:1` and padding.
    flags: u32,
    netns_dev: u64,
    netns_ino: u64,
    nr_jited_ksyms: u32,
    nr_jited_func_lens: u32,
    jited_ksyms: u64,
    jited_func_lens: u64,
    btf_id: u32,
    func_info_rec_size: u32,
    func_info: u64,
    nr_func_info: u32,
    nr_line_info: u32,
    line_info: u64,
    jited_line_info: u64,
    nr_jited_line_info: u32,
    line_info_rec_size: u32,
    jited_line_info_rec_size: u32,
    nr_prog_tags: u32,
    prog_tags: u64,
    run_time_ns: u64,
    run_cnt: u64,
    recursion_misses: u64,
    verified_insns: u32,
    attach_btf_obj_id: u32,
    attach_btf_id: u32,
    /// The struct's alignment tail, named so that it is zeroed: a kernel whose
    /// `bpf_prog_info` ends earlier refuses non-zero bytes past its end (E2BIG).
    _pad: u32,
}

/// What the kernel says about a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: u32,
    pub name: String,
    pub prog_type: u32,
    pub tag: [u8; BPF_TAG_SIZE],
    pub xlated_prog_len: u32,
    /// Ids of the maps the program uses.
    pub map_ids: Vec<u32>,
    /// The id of the program's BTF object (its func_info types), or 0 without BTF.
    pub btf_id: u32,
    /// `attach_btf_id`: the BTF type id of a tracing program's target, or 0.
    pub attach_btf_id: u32,
    /// `attach_btf_obj_id`: the BTF object (vmlinux, a module's, a program's) that
    /// `attach_btf_id` is in, or 0.
    pub attach_btf_obj_id: u32,
}

fn prog_info_into(prog: BorrowedFd<'_>, info: &mut BpfProgInfo) -> Result<(), SysError> {
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<BpfProgInfo>() as u32,
        info: ptr(info as *mut BpfProgInfo),
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_OBJ_GET_INFO_BY_FD", "program", error))
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program, including its map ids.
pub fn prog_info(prog: BorrowedFd<'_>) -> Result<ProgInfo, SysError> {
    let mut info = BpfProgInfo::default();
    prog_info_into(prog, &mut info)?;
    let mut map_ids = vec![0u32; info.nr_map_ids as usize];
    if !map_ids.is_empty() {
        // Ask again with room for the ids; the kernel fills at most nr_map_ids of them.
        let mut with_ids = BpfProgInfo {
            nr_map_ids: map_ids.len() as u32,
            map_ids: ptr(map_ids.as_mut_ptr()),
            ..Default::default()
        };
        prog_info_into(prog, &mut with_ids)?;
        map_ids.truncate(with_ids.nr_map_ids.min(map_ids.len() as u32) as usize);
    }
    Ok(ProgInfo {
        id: info.id,
        name: name_from_kernel(&info.name),
        prog_type: info.prog_type,
        tag: info.tag,
        xlated_prog_len: info.xlated_prog_len,
        map_ids,
        btf_id: info.btf_id,
        attach_btf_id: info.attach_btf_id,
        attach_btf_obj_id: info.attach_btf_obj_id,
    })
}

/// `struct bpf_func_info`: where a function starts, and its FUNC in the program's BTF.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct BpfFuncInfo {
    insn_off: u32,
    type_id: u32,
}

/// A program's func_info records as `(insn_off, type_id)`: the first is its entry
/// function (`BPF_OBJ_GET_INFO_BY_FD` with room for them).
pub fn prog_func_info(prog: BorrowedFd<'_>) -> Result<Vec<(u32, u32)>, SysError> {
    let mut info = BpfProgInfo::default();
    prog_info_into(prog, &mut info)?;
    let mut records = vec![BpfFuncInfo::default(); info.nr_func_info as usize];
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut with_records = BpfProgInfo {
        nr_func_info: records.len() as u32,
        func_info_rec_size: std::mem::size_of::<BpfFuncInfo>() as u32,
        func_info: ptr(records.as_mut_ptr()),
        ..Default::default()
    };
    prog_info_into(prog, &mut with_records)?;
    records.truncate(with_records.nr_func_info.min(records.len() as u32) as usize);
    Ok(records
        .iter()
        .map(|record| (record.insn_off, record.type_id))
        .collect())
}

/// Opens the program with kernel id `id` (`BPF_PROG_GET_FD_BY_ID`).
pub fn prog_fd_by_id(id: u32) -> Result<ProgFd, SysError> {
    let mut attr = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    bpf_fd(BPF_PROG_GET_FD_BY_ID, &mut attr)
        .map(ProgFd)
        .map_err(|error| SysError::new("BPF_PROG_GET_FD_BY_ID", format!("program id {id}"), error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn prog_info_layout_matches_the_kernel() {
        assert_eq!(offset_of!(BpfProgInfo, tag), 8);
        assert_eq!(offset_of!(BpfProgInfo, nr_map_ids), 52);
        assert_eq!(offset_of!(BpfProgInfo, map_ids), 56);
        assert_eq!(offset_of!(BpfProgInfo, name), 64);
        assert_eq!(offset_of!(BpfProgInfo, ifindex), 80);
        assert_eq!(offset_of!(BpfProgInfo, netns_dev), 88);
        assert_eq!(offset_of!(BpfProgInfo, btf_id), 128);
        assert_eq!(offset_of!(BpfProgInfo, prog_tags), 184);
        assert_eq!(offset_of!(BpfProgInfo, verified_insns), 216);
        assert_eq!(offset_of!(BpfProgInfo, attach_btf_id), 224);
    }
}
