//! A scripted [`super::Stream`] for the connection's tests: each read and write returns what
//! the test chose (bytes, WouldBlock, an error, EOF), so every transition can be driven without
//! a socket, and it remembers what was written and the largest buffer a read was offered.

use std::collections::VecDeque;
use std::io;

/// One read of the script.
#[derive(Debug, Clone)]
pub(super) enum In {
    /// These bytes: as many as fit the buffer offered, the rest on the next read.
    Bytes(Vec<u8>),
    /// This many bytes of one value, made as they are read (a long body, never held whole).
    Fill(u8, usize),
    WouldBlock,
    Eof,
    Fail(io::ErrorKind),
    /// A TLS alert from the server on an open connection: it refuses our client certificate.
    Refused,
}

/// One write of the script (with none left, a write takes everything).
#[derive(Debug, Clone, Copy)]
pub(super) enum Out {
    Take(usize),
    WouldBlock,
    Zero,
    Fail(io::ErrorKind),
}

/// A socket that reads and writes what the test says.
#[derive(Debug, Default)]
pub(super) struct Script {
    pub reads: VecDeque<In>,
    pub writes: VecDeque<Out>,
    pub written: Vec<u8>,
    /// The largest buffer a read was offered.
    pub largest_read: usize,
}

impl Script {
    pub(super) fn reading(reads: Vec<In>) -> Script {
        Script {
            reads: reads.into(),
            ..Script::default()
        }
    }
}

impl io::Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest_read = self.largest_read.max(buf.len());
        match self.reads.front_mut() {
            None | Some(In::WouldBlock) => {
                self.reads.pop_front();
                Err(io::ErrorKind::WouldBlock.into())
            }
            Some(In::Bytes(b)) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                b.drain(..n);
                if b.is_empty() {
                    self.reads.pop_front();
                }
                Ok(n)
            }
            Some(In::Fill(byte, left)) => {
                let n = (*left).min(buf.len());
                buf[..n].fill(*byte);
                *left -= n;
                if *left == 0 {
                    self.reads.pop_front();
                }
                Ok(n)
            }
            Some(In::Eof) => Ok(0),
            Some(In::Fail(kind)) => {
                let kind = *kind;
                self.reads.pop_front();
                Err(kind.into())
            }
            Some(In::Refused) => {
                self.reads.pop_front();
                Err(io::Error::new(io::ErrorKind::InvalidData, refusal()))
            }
        }
    }
}

impl io::Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.writes.pop_front() {
            None => buf.len(),
            Some(Out::Take(n)) => n.min(buf.len()),
            Some(Out::Zero) => 0,
            Some(Out::WouldBlock) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(Out::Fail(kind)) => return Err(kind.into()),
        };
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The alert a server that wants a client certificate sends after a TLS 1.3 handshake.
pub(super) fn refusal() -> rustls::Error {
    rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)
}
