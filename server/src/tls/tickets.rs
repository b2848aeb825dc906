//! Session tickets that every process of one server can open.
//!
//! With `--processes N` the kernel spreads a client's reconnections over the processes by
//! 4-tuple (SO_REUSEPORT), so a ticket sealed by one process is mostly presented to another.
//! rustls' own ticketer draws a random key per process, and each such ticket became a full
//! handshake. Here the keys are derived from one [`TicketSeed`], made once by the supervisor
//! and handed to each process it starts (on the process's stdin, never in argv or a file), so
//! every process derives the same key for the same time.
//!
//! Keys rotate as rustls' do, every [`KEY_PERIOD_SECS`], a ticket being accepted in the period
//! it was sealed in and the next: periods are counted from the Unix epoch, so the processes
//! agree without talking. The seed is a hash ratchet, not a master key: the seed of period
//! `p + 1` is derived from that of `p`, which is then overwritten, so memory read at some time
//! opens no ticket sealed more than a period before it (forward secrecy as with random keys).
//! The supervisor keeps its seed one period behind the clock, so a process it starts late
//! still opens the tickets of the previous period.
//!
//! Tickets are sealed with AES-256-GCM-SIV under a random nonce: every process seals with the
//! same key, and a nonce that repeats (2^-96 per pair) costs GCM-SIV nothing but the equality of
//! two identical tickets, where it would cost GCM its key.

use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM_SIV, NONCE_LEN};
use aws_lc_rs::hkdf::{KeyType, Prk, HKDF_SHA256};

/// How long one key seals new tickets (rustls' own ticketer rotates as often); a ticket is
/// accepted for at most twice this.
pub const KEY_PERIOD_SECS: u64 = 6 * 60 * 60;
/// Bytes of a seed's secret.
const SECRET_BYTES: usize = 32;
/// Bytes of a seed as handed to a process: its period (big-endian) and its secret.
pub const SEED_BYTES: usize = 8 + SECRET_BYTES;
/// Bytes of a ticket's header: the period of the key that sealed it, then the nonce.
const HEADER_BYTES: usize = 8 + NONCE_LEN;
/// Bytes of the tag after the sealed session.
const TAG_BYTES: usize = 16;
/// HKDF labels: one step of the ratchet, and the ticket key of a period.
const NEXT_LABEL: &[u8] = b"nines-server ticket seed";
const KEY_LABEL: &[u8] = b"nines-server ticket key";

/// Overwrites secret bytes, in a way the optimiser cannot drop as a dead store (best effort:
/// copies a move left behind are not reached).
pub fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

/// The period the clock is in now.
fn period_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / KEY_PERIOD_SECS)
}

/// The secret ticket keys derive from, at one period: made once per server and handed to each
/// of its processes.
#[derive(Clone)]
pub struct TicketSeed {
    period: u64,
    secret: [u8; SECRET_BYTES],
}

impl std::fmt::Debug for TicketSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSeed")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl Drop for TicketSeed {
    fn drop(&mut self) {
        self.erase();
    }
}

/// An HKDF output length that is not a key type of aws-lc-rs.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl TicketSeed {
    /// A fresh random seed at the present period.
    ///
    /// # Errors
    /// If the system's random source fails.
    pub fn random() -> Result<TicketSeed, rustls::Error> {
        let mut secret = [0u8; SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        Ok(TicketSeed {
            period: period_now(),
            secret,
        })
    }

    /// The seed as a process is handed it.
    pub fn to_bytes(&self) -> [u8; SEED_BYTES] {
        let mut out = [0u8; SEED_BYTES];
        out[..8].copy_from_slice(&self.period.to_be_bytes());
        out[8..].copy_from_slice(&self.secret);
        out
    }

    /// The seed [`to_bytes`](Self::to_bytes) gave.
    pub fn from_bytes(bytes: &[u8; SEED_BYTES]) -> TicketSeed {
        let mut period = [0u8; 8];
        period.copy_from_slice(&bytes[..8]);
        let mut seed = TicketSeed {
            period: u64::from_be_bytes(period),
            secret: [0u8; SECRET_BYTES],
        };
        seed.secret.copy_from_slice(&bytes[8..]);
        seed
    }

    /// Moves the seed on to the period before the clock's if it is further behind, so a
    /// process started now can still open the tickets of the period before, and none older.
    pub fn keep_up(&mut self) {
        self.keep_up_with(period_now());
    }

    fn keep_up_with(&mut self, period: u64) {
        while self.period.saturating_add(1) < period {
            self.advance();
        }
    }

    /// One step of the ratchet: the next period's seed, this one's overwritten.
    fn advance(&mut self) {
        let mut next = [0u8; SECRET_BYTES];
        let prk = Prk::new_less_safe(HKDF_SHA256, &self.secret);
        // An output of 32 bytes, far under HKDF-SHA256's 8160: expand and fill cannot fail.
        if let Ok(okm) = prk.expand(&[NEXT_LABEL], Len(SECRET_BYTES)) {
            let _ = okm.fill(&mut next);
        }
        self.erase();
        self.secret = next;
        self.period += 1;
    }

    /// The ticket key of this seed's period.
    fn key(&self) -> Option<LessSafeKey> {
        let prk = Prk::new_less_safe(HKDF_SHA256, &self.secret);
        let period = self.period.to_be_bytes();
        let info = [KEY_LABEL, &period];
        let okm = prk.expand(&info, &AES_256_GCM_SIV).ok()?;
        Some(LessSafeKey::new(UnboundKey::from(okm)))
    }

    fn erase(&mut self) {
        wipe(&mut self.secret);
    }
}

/// One period's key.
struct PeriodKey {
    period: u64,
    key: LessSafeKey,
}

/// The keys in use: the present period's and the one before (for tickets sealed then), and
/// the seed of the present period to make the next.
struct Keys {
    seed: TicketSeed,
    current: PeriodKey,
    previous: Option<PeriodKey>,
}

impl Keys {
    /// Rolls the keys on to `period` (never back: a clock set back keeps the newest key).
    fn roll(&mut self, period: u64) -> Option<()> {
        while self.current.period < period {
            self.seed.advance();
            let next = PeriodKey {
                period: self.seed.period,
                key: self.seed.key()?,
            };
            self.previous = Some(std::mem::replace(&mut self.current, next));
        }
        Some(())
    }

    fn for_period(&self, period: u64) -> Option<&LessSafeKey> {
        if period == self.current.period {
            return Some(&self.current.key);
        }
        self.previous
            .as_ref()
            .filter(|k| k.period == period)
            .map(|k| &k.key)
    }
}

/// The ticketer of every TLS connection of a server: keys from its [`TicketSeed`], the same in
/// all its processes.
pub struct SharedTicketer {
    keys: RwLock<Keys>,
}

impl std::fmt::Debug for SharedTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTicketer").finish_non_exhaustive()
    }
}

impl SharedTicketer {
    /// Keys from `seed`, rolled on to the present period.
    ///
    /// # Errors
    /// If aws-lc-rs refuses to make a key (it does not for a 32-byte HKDF output).
    pub fn new(seed: TicketSeed) -> Result<SharedTicketer, rustls::Error> {
        Self::at(seed, period_now())
    }

    fn at(seed: TicketSeed, period: u64) -> Result<SharedTicketer, rustls::Error> {
        let refused = || rustls::Error::General("aws-lc-rs refused a ticket key".into());
        let current = PeriodKey {
            period: seed.period,
            key: seed.key().ok_or_else(refused)?,
        };
        let mut keys = Keys {
            seed,
            current,
            previous: None,
        };
        keys.roll(period).ok_or_else(refused)?;
        Ok(SharedTicketer {
            keys: RwLock::new(keys),
        })
    }

    /// Runs `f` on the keys of `period`, rolling them on first if the period is new.
    fn with_keys<T>(&self, period: u64, f: impl FnOnce(&Keys) -> Option<T>) -> Option<T> {
        {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            if keys.current.period >= period {
                return f(&keys);
            }
        }
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.roll(period)?;
        f(&keys)
    }

    fn seal_at(&self, period: u64, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        self.with_keys(period, |keys| {
            let sealed_in = keys.current.period.to_be_bytes();
            let mut ticket = Vec::with_capacity(HEADER_BYTES + plain.len() + TAG_BYTES);
            ticket.extend_from_slice(&sealed_in);
            ticket.extend_from_slice(&nonce);
            let mut body = plain.to_vec();
            keys.current
                .key
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(sealed_in),
                    &mut body,
                )
                .ok()?;
            ticket.extend_from_slice(&body);
            Some(ticket)
        })
    }

    fn open_at(&self, period: u64, ticket: &[u8]) -> Option<Vec<u8>> {
        // The ticket is the client's bytes: every length is checked before it is sliced.
        if ticket.len() < HEADER_BYTES + TAG_BYTES {
            return None;
        }
        let (header, sealed) = ticket.split_at(HEADER_BYTES);
        let (sealed_in, nonce) = header.split_at(8);
        let sealed_in: [u8; 8] = sealed_in.try_into().ok()?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        self.with_keys(period, |keys| {
            let key = keys.for_period(u64::from_be_bytes(sealed_in))?;
            let mut body = sealed.to_vec();
            let plain_len = key
                .open_in_place(nonce, Aad::from(sealed_in), &mut body)
                .ok()?
                .len();
            body.truncate(plain_len);
            Some(body)
        })
    }
}

impl rustls::server::ProducesTickets for SharedTicketer {
    fn enabled(&self) -> bool {
        true
    }

    /// A ticket sealed now is accepted for at least this long (until the end of the next
    /// period), so the hint never promises more than the keys keep.
    fn lifetime(&self) -> u32 {
        KEY_PERIOD_SECS as u32
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.seal_at(period_now(), plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.open_at(period_now(), cipher)
    }
}

#[cfg(test)]
#[path = "tickets_tests.rs"]
mod tests;
