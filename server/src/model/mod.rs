//! Server models: how connections are scheduled onto threads. Nothing else differs between
//! them; listener setup, request handling and counters are shared.

#[cfg(feature = "pooled")]
pub mod pooled;
#[cfg(feature = "thread-per-connection")]
pub mod threaded;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::Waker;

use crate::limits::{Admission, BufferBudget};

/// What every thread of a server shares: the stop flag, the buffered-reply budget and the count
/// of open connections.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub shutdown: Arc<AtomicBool>,
    pub budget: Arc<BufferBudget>,
    pub admission: Arc<Admission>,
}

/// The threads of a started model and the wakers that interrupt their polls at shutdown.
#[derive(Debug, Default)]
pub(crate) struct Running {
    pub threads: Vec<JoinHandle<()>>,
    pub wakers: Vec<Arc<Waker>>,
}
