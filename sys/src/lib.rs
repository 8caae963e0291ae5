//! The kernel boundary: `bpf(2)` commands, rtnetlink XDP attach/query/detach, bpffs,
//! possible CPUs. The only crate of the project with `unsafe`; every descriptor it
//! returns is an `OwnedFd` inside a typed wrapper.

pub mod abi;
pub mod batch;
mod bpf;
pub mod bpffs;
pub mod btf;
pub mod cpus;
mod error;
pub mod file_map;
pub mod iface;
pub mod link;
pub mod map;
pub mod netlink;
pub mod obj;
pub mod perf_event;
pub mod probe;
pub mod process;
pub mod prog;
pub mod signal;
pub mod test_run;

pub use bpf::time_in_bpf;
pub use error::SysError;
pub use map::{MapFd, MapInfo};
pub use prog::{ProgFd, ProgInfo, ProgLoadError};
