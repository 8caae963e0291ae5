//! What can stop `statswatch -prometheus` (a map that is missing or wrong is not among
//! them: /metrics answers 503 until it is right), with the exit code of each.

use std::fmt;
use std::net::SocketAddr;

use sys::SysError;

use crate::error::ExitKind;
use crate::stats::error::StatsError;

#[derive(Debug)]
pub enum ExportError {
    /// `-prometheus` names no address to listen on.
    Address {
        text: String,
        reason: &'static str,
    },
    /// Something else listens on the address already.
    AddressInUse {
        addr: SocketAddr,
    },
    /// The address cannot be listened on for another reason.
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The stats stage failed before serving (the possible CPUs cannot be read).
    Stats(StatsError),
    Signals(SysError),
    /// The listening socket cannot be made non-blocking.
    Listener(std::io::Error),
    /// A serving thread cannot be started.
    Thread(std::io::Error),
}

impl ExportError {
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            ExportError::Address { .. } => ExitKind::Usage,
            ExportError::Stats(error) => error.exit_kind(),
            ExportError::AddressInUse { .. }
            | ExportError::Bind { .. }
            | ExportError::Signals(_)
            | ExportError::Listener(_)
            | ExportError::Thread(_) => ExitKind::Environment,
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Address { text, reason } => write!(
                f,
                "-prometheus {text:?}: {reason}; give a port (9435, which listens on 127.0.0.1 only) or an address and a port (0.0.0.0:9435, [::1]:9435)"
            ),
            ExportError::AddressInUse { addr } => write!(
                f,
                "cannot listen on {addr}: something else listens there already (another statswatch -prometheus?); stop it or pass another port with -prometheus"
            ),
            ExportError::Bind { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            ExportError::Stats(error) => error.fmt(f),
            ExportError::Signals(error) => write!(f, "cannot catch Ctrl-C and SIGTERM: {error}"),
            ExportError::Listener(error) => {
                write!(f, "cannot make the listening socket non-blocking: {error}")
            }
            ExportError::Thread(error) => write!(f, "cannot start a serving thread: {error}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<StatsError> for ExportError {
    fn from(error: StatsError) -> Self {
        ExportError::Stats(error)
    }
}
