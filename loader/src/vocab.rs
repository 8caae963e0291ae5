//! The words every stage shares: XDP attach modes, the default pin directory and entry
//! program, the names of kernel numbers as the original tool printed them, and how the
//! kernel cuts object names. A module of its own so that the stages, the errors and the
//! binaries can all use them without importing one another.

use sys::abi::*;

/// Where bpffs is mounted by convention, and where maps are pinned by name.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

/// The entry program when -prog is not given (kern/xdp.c's).
pub const DEFAULT_PROG: &str = "xdp_skeleton";

/// XDP attach mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// Generic XDP, in the stack after the skb is built: works on every interface.
    Skb,
    /// Native XDP in the driver.
    Drv,
    /// Offloaded to the NIC.
    Hw,
}

impl XdpMode {
    pub fn flags(self) -> u32 {
        match self {
            XdpMode::Skb => XDP_FLAGS_SKB_MODE,
            XdpMode::Drv => XDP_FLAGS_DRV_MODE,
            XdpMode::Hw => XDP_FLAGS_HW_MODE,
        }
    }

    /// The mode as users and `ip link` call it.
    pub fn describe(self) -> &'static str {
        match self {
            XdpMode::Skb => "generic (skb)",
            XdpMode::Drv => "native (driver)",
            XdpMode::Hw => "offload (hardware)",
        }
    }

    /// The `ip link set dev IF <keyword> off` keyword for this mode.
    pub fn ip_link_keyword(self) -> &'static str {
        match self {
            XdpMode::Skb => "xdpgeneric",
            XdpMode::Drv => "xdpdrv",
            XdpMode::Hw => "xdpoffload",
        }
    }
}

/// How many bytes of an object's name the kernel keeps (the rest is cut).
const KEPT_NAME_BYTES: usize = BPF_OBJ_NAME_LEN - 1;

/// Whether a program's kernel name is `entry`, which the kernel cut to 15 bytes.
pub fn same_program_name(kernel_name: &str, entry: &str) -> bool {
    let cut: String = entry.chars().take(KEPT_NAME_BYTES).collect();
    kernel_name == cut
}

/// Whether a map's kernel name is `wanted`. The kernel keeps only the first 15 bytes of a
/// name, so a longer `wanted` matches its truncation.
pub fn map_name_matches(kernel_name: &str, wanted: &str) -> bool {
    kernel_name == wanted
        || (wanted.len() > KEPT_NAME_BYTES
            && kernel_name.len() == KEPT_NAME_BYTES
            && wanted.as_bytes().starts_with(kernel_name.as_bytes()))
}

/// A map type as the original `xdploader` (goebpf) named it.
pub fn map_type_name(map_type: u32) -> String {
    let name = match map_type {
        BPF_MAP_TYPE_UNSPEC => "Unspecified",
        BPF_MAP_TYPE_HASH => "Hash",
        BPF_MAP_TYPE_ARRAY => "Array",
        BPF_MAP_TYPE_PROG_ARRAY => "Array of programs",
        BPF_MAP_TYPE_PERF_EVENT_ARRAY => "Event array",
        BPF_MAP_TYPE_PERCPU_HASH => "Per-CPU hash",
        BPF_MAP_TYPE_PERCPU_ARRAY => "Per-CPU array",
        BPF_MAP_TYPE_STACK_TRACE => "Stack trace",
        BPF_MAP_TYPE_CGROUP_ARRAY => "Cgroup array",
        BPF_MAP_TYPE_LRU_HASH => "LRU hash",
        BPF_MAP_TYPE_LRU_PERCPU_HASH => "LRU per-CPU hash",
        BPF_MAP_TYPE_LPM_TRIE => "Longest prefix match trie",
        BPF_MAP_TYPE_ARRAY_OF_MAPS => "Array of maps",
        BPF_MAP_TYPE_HASH_OF_MAPS => "Hash of maps",
        BPF_MAP_TYPE_DEVMAP => "Device map",
        BPF_MAP_TYPE_SOCKMAP => "Socket map",
        BPF_MAP_TYPE_CPUMAP => "CPU map",
        BPF_MAP_TYPE_XSKMAP => "AF_XDP socket map",
        BPF_MAP_TYPE_SOCKHASH => "Socket hash",
        BPF_MAP_TYPE_CGROUP_STORAGE => "Cgroup storage",
        BPF_MAP_TYPE_REUSEPORT_SOCKARRAY => "Reuseport socket array",
        BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE => "Per-CPU cgroup storage",
        BPF_MAP_TYPE_QUEUE => "Queue",
        BPF_MAP_TYPE_STACK => "Stack",
        BPF_MAP_TYPE_SK_STORAGE => "Socket storage",
        BPF_MAP_TYPE_DEVMAP_HASH => "Device hash map",
        BPF_MAP_TYPE_STRUCT_OPS => "Struct ops",
        BPF_MAP_TYPE_RINGBUF => "Ring buffer",
        BPF_MAP_TYPE_INODE_STORAGE => "Inode storage",
        BPF_MAP_TYPE_TASK_STORAGE => "Task storage",
        BPF_MAP_TYPE_BLOOM_FILTER => "Bloom filter",
        BPF_MAP_TYPE_USER_RINGBUF => "User ring buffer",
        BPF_MAP_TYPE_CGRP_STORAGE => "Cgroup local storage",
        BPF_MAP_TYPE_ARENA => "Arena",
        other => return format!("Unknown map type {other}"),
    };
    name.to_string()
}

/// The XDP actions in `enum xdp_action` order: the keys of a stats map.
pub const XDP_ACTIONS: [&str; 5] = [
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
];

/// An XDP action's name, or its number when it has none.
pub fn xdp_action_name(action: u32) -> String {
    XDP_ACTIONS
        .get(action as usize)
        .map_or_else(|| format!("action {action}"), |name| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_the_original_printed_them() {
        assert_eq!(map_type_name(BPF_MAP_TYPE_PERCPU_ARRAY), "Per-CPU array");
        assert_eq!(map_type_name(BPF_MAP_TYPE_DEVMAP), "Device map");
        assert_eq!(map_type_name(BPF_MAP_TYPE_PROG_ARRAY), "Array of programs");
        assert_eq!(map_type_name(999), "Unknown map type 999");
        assert_eq!(xdp_action_name(2), "XDP_PASS");
        assert_eq!(xdp_action_name(7), "action 7");
    }

    #[test]
    fn names_match_the_kernels_truncation() {
        assert!(map_name_matches("stats_map", "stats_map"));
        assert!(!map_name_matches("stats_map", "stats"));
        assert!(map_name_matches("a_very_long_map", "a_very_long_map_name"));
        assert!(!map_name_matches("a_very_long_map", "a_very_long_mXp_name"));
        assert!(!map_name_matches("a_very", "a_very_long_map_name"));
    }
}
