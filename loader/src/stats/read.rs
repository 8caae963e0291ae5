//! Reading a stats map: the possible CPUs (the layout of per-CPU values), the map opened
//! from its pin and its shape checked, and a sample read with one
//! `BPF_MAP_LOOKUP_BATCH` where the kernel has it, else one lookup per key.

use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sys::abi::BPF_MAP_TYPE_PERCPU_ARRAY;
use sys::obj::PinnedMapError;
use sys::{MapFd, MapInfo, SysError};

use crate::stats::counters::{
    cpu_ids, per_cpu_datarecs, per_cpu_stride, ActionCounters, DataRec, Sample, DATAREC_SIZE,
};
use crate::stats::error::StatsError;

/// Set to 1 to read every key with BPF_MAP_LOOKUP_ELEM instead of one batch lookup.
const NO_BATCH_ENV: &str = "STATSWATCH_NO_BATCH";
/// At most this many elements per BPF_MAP_LOOKUP_BATCH call.
const BATCH_ELEMENTS: usize = 256;

/// The CPUs whose values a per-CPU lookup returns, in order, and how many slots the
/// lookup buffer needs.
pub struct Cpus {
    pub ids: Vec<u32>,
    pub slots: usize,
}

/// The possible CPUs, read from the kernel: how many values a per-CPU lookup returns, and
/// the number of the CPU each belongs to.
pub fn possible_cpus() -> Result<Cpus, StatsError> {
    let slots = sys::cpus::possible_cpus().map_err(StatsError::PossibleCpus)?;
    let ids = std::fs::read_to_string(sys::cpus::POSSIBLE_CPUS_PATH)
        .ok()
        .and_then(|list| cpu_ids(&list))
        .filter(|ids| ids.len() <= slots)
        .unwrap_or_else(|| (0..slots as u32).collect());
    Ok(Cpus { ids, slots })
}

/// Opens the map pinned at `pin` and checks that it is a stats map.
pub fn open_map(pin: &Path) -> Result<(MapFd, MapInfo), StatsError> {
    let map = sys::obj::map_from_pin(pin).map_err(|error| match error {
        PinnedMapError::Open(error) if error.errno == nix::errno::Errno::ENOENT => {
            StatsError::NothingPinned {
                pin: pin.to_path_buf(),
            }
        }
        PinnedMapError::Open(error) if error.is_permission() => StatsError::OpenRefused {
            pin: pin.to_path_buf(),
            error,
        },
        error => StatsError::NotAMap {
            pin: pin.to_path_buf(),
            error,
        },
    })?;
    let info = sys::map::map_info(map.as_fd()).map_err(|error| StatsError::MapInfo {
        pin: pin.to_path_buf(),
        error,
    })?;
    if info.map_type != BPF_MAP_TYPE_PERCPU_ARRAY
        || info.value_size != DATAREC_SIZE
        || info.key_size != 4
    {
        return Err(StatsError::NotAStatsMap {
            pin: pin.to_path_buf(),
            info,
        });
    }
    Ok((map, info))
}

/// Set once the kernel has said it has no batch lookup: every later read goes per key.
static BATCH_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

fn batch_disabled() -> bool {
    BATCH_UNSUPPORTED.load(Ordering::Relaxed)
        || std::env::var_os(NO_BATCH_ENV).is_some_and(|value| value == "1")
}

/// The buffers a read fills: kept by a caller that reads again and again (the exporter),
/// so that they are allocated once, not for every sample.
#[derive(Debug, Default)]
pub struct ReadBuffers {
    keys: Vec<u8>,
    values: Vec<u8>,
}

/// Reads every key of the stats map: one BPF_MAP_LOOKUP_BATCH where the kernel has it,
/// else one BPF_MAP_LOOKUP_ELEM per key.
pub fn read_sample(
    map: &MapFd,
    info: &MapInfo,
    cpus: &Cpus,
    pin: &Path,
    monotonic: f64,
) -> Result<Sample, StatsError> {
    read_sample_with(&mut ReadBuffers::default(), map, info, cpus, pin, monotonic)
}

/// [`read_sample`] into buffers that the caller keeps from one read to the next.
pub fn read_sample_with(
    buffers: &mut ReadBuffers,
    map: &MapFd,
    info: &MapInfo,
    cpus: &Cpus,
    pin: &Path,
    monotonic: f64,
) -> Result<Sample, StatsError> {
    let refused = |error: SysError| StatsError::Read {
        pin: pin.to_path_buf(),
        error,
    };
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    let mut actions = None;
    if !batch_disabled() {
        match read_batch(buffers, map, info, cpus) {
            Ok(read) => actions = Some(read),
            Err(error) if sys::batch::is_unsupported(&error) => {
                BATCH_UNSUPPORTED.store(true, Ordering::Relaxed);
            }
            Err(error) => return Err(refused(error)),
        }
    }
    let actions = match actions {
        Some(actions) => actions,
        None => read_per_key(buffers, map, info, cpus).map_err(refused)?,
    };
    Ok(Sample {
        map_name: info.name.clone(),
        map_id: info.id,
        time,
        monotonic,
        actions,
    })
}

fn counters(key: u32, value: &[u8], cpus: &Cpus) -> ActionCounters {
    let mut per_cpu = per_cpu_datarecs(value, cpus.slots);
    // Values fill one slot per possible CPU, in order; a sparse CPU list leaves the rest empty.
    per_cpu.truncate(cpus.ids.len());
    ActionCounters { key, per_cpu }
}

fn read_batch(
    buffers: &mut ReadBuffers,
    map: &MapFd,
    info: &MapInfo,
    cpus: &Cpus,
) -> Result<Vec<ActionCounters>, SysError> {
    let mut lookup = sys::batch::BatchLookup::new(map.as_fd())?;
    let (key_size, value_size) = (lookup.key_size(), lookup.value_size());
    // One element more than the map holds: the kernel then ends the first call with
    // "no more" (ENOENT), so a whole sample takes a single call.
    let elements = (info.max_entries as usize)
        .saturating_add(1)
        .min(BATCH_ELEMENTS);
    let (keys, values) = (&mut buffers.keys, &mut buffers.values);
    keys.clear();
    keys.resize(elements * key_size, 0);
    values.clear();
    values.resize(elements * value_size, 0);
    let mut actions = Vec::new();
    while !lookup.is_finished() {
        let read = lookup.next_batch(keys, values)?;
        if read == 0 {
            break;
        }
        for (key, value) in keys
            .chunks_exact(key_size)
            .zip(values.chunks_exact(value_size))
            .take(read)
        {
            let mut raw = [0u8; 4];
            for (slot, byte) in raw.iter_mut().zip(key) {
                *slot = *byte;
            }
            actions.push(counters(u32::from_ne_bytes(raw), value, cpus));
        }
    }
    actions.sort_by_key(|action| action.key);
    Ok(actions)
}

fn read_per_key(
    buffers: &mut ReadBuffers,
    map: &MapFd,
    info: &MapInfo,
    cpus: &Cpus,
) -> Result<Vec<ActionCounters>, SysError> {
    let buffer = &mut buffers.values;
    buffer.clear();
    buffer.resize(per_cpu_stride(info.value_size) * cpus.slots, 0);
    let mut actions = Vec::new();
    for key in 0..info.max_entries {
        buffer.fill(0);
        if sys::map::map_lookup_elem(map.as_fd(), &key.to_ne_bytes(), buffer)? {
            actions.push(counters(key, buffer, cpus));
        } else {
            actions.push(ActionCounters {
                key,
                per_cpu: vec![DataRec::default(); cpus.ids.len()],
            });
        }
    }
    Ok(actions)
}
