//! The attach stage: a loaded program onto interfaces, and what is attached now. One file
//! per concern:
//!
//! | concern | file |
//! | --- | --- |
//! | before touching an interface: it exists, its lock, not someone else's program | `preflight.rs` |
//! | the mode asked for; can native mode work here | `modes.rs` |
//! | one interface: netlink or a BPF link, atomic replace, native -> generic fallback | `xdp.rs` |
//! | putting interfaces back after a failure | `rollback.rs` |
//! | the redirect map's entries for the attached interfaces | `redirect.rs` |
//! | what is attached, the maps it reaches, their pins (`-status`) | `status.rs` |
//! | taking it off (`-detach`) | `detach.rs` |
//!
//! Nothing here prints. This stage may use the load stage (its maps and tail-call slots)
//! and the shared modules, never `run` or `stats`.

pub mod detach;
pub mod flow;
pub mod modes;
pub mod preflight;
pub mod redirect;
pub mod reload;
pub mod rollback;
pub mod status;
pub mod xdp;
