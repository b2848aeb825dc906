//! Server models: how connections are scheduled onto threads. Nothing else differs between
//! them; listener setup, request handling and counters are shared.

#[cfg(feature = "pooled")]
pub mod pooled;
#[cfg(feature = "thread-per-connection")]
pub mod threaded;

use std::sync::Arc;
use std::thread::JoinHandle;

use mio::Waker;

/// The threads of a started model and the wakers that interrupt their polls at shutdown.
#[derive(Debug, Default)]
pub(crate) struct Running {
    pub threads: Vec<JoinHandle<()>>,
    pub wakers: Vec<Arc<Waker>>,
}
