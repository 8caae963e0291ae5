//! Kernel ABI constants from include/uapi/linux/bpf.h, named as the kernel names them.

// enum bpf_cmd
pub const BPF_MAP_CREATE: u32 = 0;
pub const BPF_MAP_LOOKUP_ELEM: u32 = 1;
pub const BPF_MAP_UPDATE_ELEM: u32 = 2;
pub const BPF_MAP_DELETE_ELEM: u32 = 3;
pub const BPF_MAP_GET_NEXT_KEY: u32 = 4;
pub const BPF_PROG_LOAD: u32 = 5;
pub const BPF_OBJ_PIN: u32 = 6;
pub const BPF_OBJ_GET: u32 = 7;
pub const BPF_PROG_GET_FD_BY_ID: u32 = 13;
pub const BPF_MAP_GET_FD_BY_ID: u32 = 14;
pub const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
pub const BPF_BTF_LOAD: u32 = 18;
pub const BPF_BTF_GET_FD_BY_ID: u32 = 19;
pub const BPF_BTF_GET_NEXT_ID: u32 = 23;
pub const BPF_MAP_FREEZE: u32 = 22;
pub const BPF_LINK_CREATE: u32 = 28;
pub const BPF_LINK_UPDATE: u32 = 29;
pub const BPF_LINK_GET_FD_BY_ID: u32 = 30;
pub const BPF_LINK_GET_NEXT_ID: u32 = 31;
pub const BPF_LINK_DETACH: u32 = 34;
pub const BPF_PROG_BIND_MAP: u32 = 35;
pub const BPF_PROG_GET_NEXT_ID: u32 = 11;
pub const BPF_RAW_TRACEPOINT_OPEN: u32 = 17;

// enum bpf_link_type
pub const BPF_LINK_TYPE_RAW_TRACEPOINT: u32 = 1;
pub const BPF_LINK_TYPE_TRACING: u32 = 2;
pub const BPF_LINK_TYPE_XDP: u32 = 6;
pub const BPF_LINK_TYPE_PERF_EVENT: u32 = 7;

/// BPF_LINK_UPDATE: replace only if the link holds `old_prog_fd`.
pub const BPF_F_REPLACE: u32 = 1 << 2;

// enum bpf_map_type (the ones this project names; others pass through as numbers)
pub const BPF_MAP_TYPE_UNSPEC: u32 = 0;
pub const BPF_MAP_TYPE_HASH: u32 = 1;
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
pub const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
pub const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
pub const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
pub const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
pub const BPF_MAP_TYPE_STACK_TRACE: u32 = 7;
pub const BPF_MAP_TYPE_CGROUP_ARRAY: u32 = 8;
pub const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
pub const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = 10;
pub const BPF_MAP_TYPE_LPM_TRIE: u32 = 11;
pub const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
pub const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;
pub const BPF_MAP_TYPE_DEVMAP: u32 = 14;
pub const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
pub const BPF_MAP_TYPE_CPUMAP: u32 = 16;
pub const BPF_MAP_TYPE_XSKMAP: u32 = 17;
pub const BPF_MAP_TYPE_SOCKHASH: u32 = 18;
pub const BPF_MAP_TYPE_CGROUP_STORAGE: u32 = 19;
pub const BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: u32 = 20;
pub const BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: u32 = 21;
pub const BPF_MAP_TYPE_QUEUE: u32 = 22;
pub const BPF_MAP_TYPE_STACK: u32 = 23;
pub const BPF_MAP_TYPE_SK_STORAGE: u32 = 24;
pub const BPF_MAP_TYPE_DEVMAP_HASH: u32 = 25;
pub const BPF_MAP_TYPE_STRUCT_OPS: u32 = 26;
pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;
pub const BPF_MAP_TYPE_INODE_STORAGE: u32 = 28;
pub const BPF_MAP_TYPE_TASK_STORAGE: u32 = 29;
pub const BPF_MAP_TYPE_BLOOM_FILTER: u32 = 30;
pub const BPF_MAP_TYPE_USER_RINGBUF: u32 = 31;
pub const BPF_MAP_TYPE_CGRP_STORAGE: u32 = 32;
pub const BPF_MAP_TYPE_ARENA: u32 = 33;

// enum bpf_prog_type
pub const BPF_PROG_TYPE_KPROBE: u32 = 2;
pub const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
pub const BPF_PROG_TYPE_XDP: u32 = 6;
pub const BPF_PROG_TYPE_PERF_EVENT: u32 = 7;
pub const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
pub const BPF_PROG_TYPE_TRACING: u32 = 26;
pub const BPF_PROG_TYPE_EXT: u32 = 28;
pub const BPF_PROG_TYPE_LSM: u32 = 29;

// enum bpf_attach_type
pub const BPF_TRACE_RAW_TP: u32 = 23;
pub const BPF_TRACE_FENTRY: u32 = 24;
pub const BPF_TRACE_FEXIT: u32 = 25;
pub const BPF_MODIFY_RETURN: u32 = 26;
pub const BPF_LSM_MAC: u32 = 27;
pub const BPF_TRACE_ITER: u32 = 28;
pub const BPF_XDP_DEVMAP: u32 = 33;
pub const BPF_XDP_CPUMAP: u32 = 35;
pub const BPF_XDP: u32 = 37;
pub const BPF_PERF_EVENT: u32 = 41;
/// kprobe.multi and kretprobe.multi programs (one link, many functions).
pub const BPF_TRACE_KPROBE_MULTI: u32 = 42;
/// lsm_cgroup programs: an LSM hook, per cgroup.
pub const BPF_LSM_CGROUP: u32 = 43;

// BPF_PROG_LOAD prog_flags
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
/// `BPF_F_SLEEPABLE`: the program may sleep (uprobe.s, syscall).
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;

// BPF_MAP_UPDATE_ELEM flags
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;

// BPF_MAP_CREATE map_flags
pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
/// Programs may only read the map. The kernel sets it on every devmap by itself.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// The array can be mmap()ed; libbpf sets it on global-data maps.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// `BPF_OBJ_NAME_LEN`: names are at most 15 bytes plus the NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;
/// `BPF_TAG_SIZE`.
pub const BPF_TAG_SIZE: usize = 8;

// XDP attach flags, include/uapi/linux/if_link.h
pub const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
pub const XDP_FLAGS_HW_MODE: u32 = 1 << 3;
pub const XDP_FLAGS_REPLACE: u32 = 1 << 4;
pub const XDP_FLAGS_MODES: u32 = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE;

// IFLA_XDP_ATTACHED values (enum in if_link.h)
pub const XDP_ATTACHED_NONE: u8 = 0;
pub const XDP_ATTACHED_DRV: u8 = 1;
pub const XDP_ATTACHED_SKB: u8 = 2;
pub const XDP_ATTACHED_HW: u8 = 3;
pub const XDP_ATTACHED_MULTI: u8 = 4;

/// `BPF_FS_MAGIC` from include/uapi/linux/magic.h.
pub const BPF_FS_MAGIC: i64 = 0xcafe4a11;
/// `TRACEFS_MAGIC` from include/uapi/linux/magic.h.
pub const TRACEFS_MAGIC: i64 = 0x74726163;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    /// Enumerator values of every `enum` in a C header: explicit `= N`, aliases of an
    /// earlier enumerator, or one more than the previous one.
    fn header_enums(header: &str) -> HashMap<String, i64> {
        let mut values = HashMap::new();
        let mut rest = header;
        while let Some(start) = rest.find("enum ") {
            rest = &rest[start..];
            let (Some(open), Some(close)) = (rest.find('{'), rest.find("};")) else {
                break;
            };
            if open > close || rest[..open].contains(';') {
                rest = &rest[5..];
                continue;
            }
            let body = &rest[open + 1..close];
            let mut next = 0i64;
            for line in body.lines() {
                let line = line
                    .split("/*")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_end_matches(',');
                if line.is_empty() || line.starts_with('*') || line.starts_with('#') {
                    continue;
                }
                let (name, value) = match line.split_once('=') {
                    Some((name, value)) => {
                        let value = value.trim();
                        let parsed = value
                            .strip_prefix("0x")
                            .map_or_else(
                                || value.parse().ok(),
                                |hex| i64::from_str_radix(hex, 16).ok(),
                            )
                            .or_else(|| values.get(value).copied());
                        match parsed {
                            Some(parsed) => (name.trim(), parsed),
                            None => continue,
                        }
                    }
                    None => (line, next),
                };
                if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    values.insert(name.to_string(), value);
                    next = value + 1;
                }
            }
            rest = &rest[close..];
        }
        values
    }

    /// Our constants against the installed UAPI header, when it is installed (it is
    /// wherever the project builds kern/).
    #[test]
    fn enum_constants_match_the_installed_uapi_header() {
        let Ok(header) = std::fs::read_to_string("/usr/include/linux/bpf.h") else {
            eprintln!("skipped: /usr/include/linux/bpf.h is not installed (linux-libc-dev)");
            return;
        };
        let enums = header_enums(&header);
        let ours: &[(&str, u32)] = &[
            ("BPF_MAP_CREATE", super::BPF_MAP_CREATE),
            ("BPF_PROG_LOAD", super::BPF_PROG_LOAD),
            ("BPF_OBJ_GET_INFO_BY_FD", super::BPF_OBJ_GET_INFO_BY_FD),
            ("BPF_BTF_LOAD", super::BPF_BTF_LOAD),
            ("BPF_BTF_GET_FD_BY_ID", super::BPF_BTF_GET_FD_BY_ID),
            ("BPF_BTF_GET_NEXT_ID", super::BPF_BTF_GET_NEXT_ID),
            ("BPF_PROG_TYPE_EXT", super::BPF_PROG_TYPE_EXT),
            ("BPF_TRACE_ITER", super::BPF_TRACE_ITER),
            ("BPF_MAP_FREEZE", super::BPF_MAP_FREEZE),
            ("BPF_PROG_BIND_MAP", super::BPF_PROG_BIND_MAP),
            ("BPF_LINK_CREATE", super::BPF_LINK_CREATE),
            ("BPF_LINK_UPDATE", super::BPF_LINK_UPDATE),
            ("BPF_LINK_GET_FD_BY_ID", super::BPF_LINK_GET_FD_BY_ID),
            ("BPF_LINK_GET_NEXT_ID", super::BPF_LINK_GET_NEXT_ID),
            ("BPF_LINK_DETACH", super::BPF_LINK_DETACH),
            ("BPF_PROG_GET_NEXT_ID", super::BPF_PROG_GET_NEXT_ID),
            ("BPF_LINK_TYPE_XDP", super::BPF_LINK_TYPE_XDP),
            ("BPF_RAW_TRACEPOINT_OPEN", super::BPF_RAW_TRACEPOINT_OPEN),
            (
                "BPF_LINK_TYPE_RAW_TRACEPOINT",
                super::BPF_LINK_TYPE_RAW_TRACEPOINT,
            ),
            ("BPF_LINK_TYPE_TRACING", super::BPF_LINK_TYPE_TRACING),
            ("BPF_LINK_TYPE_PERF_EVENT", super::BPF_LINK_TYPE_PERF_EVENT),
            ("BPF_PROG_TYPE_KPROBE", super::BPF_PROG_TYPE_KPROBE),
            ("BPF_PROG_TYPE_TRACEPOINT", super::BPF_PROG_TYPE_TRACEPOINT),
            ("BPF_PROG_TYPE_PERF_EVENT", super::BPF_PROG_TYPE_PERF_EVENT),
            (
                "BPF_PROG_TYPE_RAW_TRACEPOINT",
                super::BPF_PROG_TYPE_RAW_TRACEPOINT,
            ),
            ("BPF_PROG_TYPE_TRACING", super::BPF_PROG_TYPE_TRACING),
            ("BPF_PROG_TYPE_LSM", super::BPF_PROG_TYPE_LSM),
            ("BPF_TRACE_RAW_TP", super::BPF_TRACE_RAW_TP),
            ("BPF_TRACE_FENTRY", super::BPF_TRACE_FENTRY),
            ("BPF_TRACE_FEXIT", super::BPF_TRACE_FEXIT),
            ("BPF_MODIFY_RETURN", super::BPF_MODIFY_RETURN),
            ("BPF_LSM_MAC", super::BPF_LSM_MAC),
            ("BPF_PERF_EVENT", super::BPF_PERF_EVENT),
            ("BPF_TRACE_KPROBE_MULTI", super::BPF_TRACE_KPROBE_MULTI),
            ("BPF_LSM_CGROUP", super::BPF_LSM_CGROUP),
            ("BPF_PROG_GET_FD_BY_ID", super::BPF_PROG_GET_FD_BY_ID),
            ("BPF_MAP_GET_FD_BY_ID", super::BPF_MAP_GET_FD_BY_ID),
            ("BPF_MAP_TYPE_PROG_ARRAY", super::BPF_MAP_TYPE_PROG_ARRAY),
            (
                "BPF_MAP_TYPE_PERCPU_ARRAY",
                super::BPF_MAP_TYPE_PERCPU_ARRAY,
            ),
            ("BPF_MAP_TYPE_DEVMAP", super::BPF_MAP_TYPE_DEVMAP),
            ("BPF_MAP_TYPE_DEVMAP_HASH", super::BPF_MAP_TYPE_DEVMAP_HASH),
            ("BPF_MAP_TYPE_XSKMAP", super::BPF_MAP_TYPE_XSKMAP),
            (
                "BPF_MAP_TYPE_BLOOM_FILTER",
                super::BPF_MAP_TYPE_BLOOM_FILTER,
            ),
            ("BPF_PROG_TYPE_XDP", super::BPF_PROG_TYPE_XDP),
            ("BPF_XDP", super::BPF_XDP),
            ("BPF_XDP_DEVMAP", super::BPF_XDP_DEVMAP),
            ("BPF_XDP_CPUMAP", super::BPF_XDP_CPUMAP),
        ];
        for (name, value) in ours {
            match enums.get(*name) {
                Some(header_value) => assert_eq!(i64::from(*value), *header_value, "{name}"),
                None => eprintln!("{name} is not in this header (older kernel headers)"),
            }
        }
    }
}
