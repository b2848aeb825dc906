//! Test support: a codec fed as a connection feeds it. Bytes arrive in reads cut wherever the
//! test says; what the codec takes (a reply, a skip, a partial piece) is dropped from the front
//! and what it still needs is kept, so a codec's tests exercise the same contract the
//! connection holds it to, [`Codec::max_buffered`] included.

use super::{Codec, Decoded, Response, Sent};

/// A request id as the oldest in flight, asking for no particular size (HTTP, Redis).
impl From<u64> for Sent {
    fn from(id: u64) -> Sent {
        Sent::of(id, 0)
    }
}

/// What the connection saw, with the pieces of a reply taken as [`Decoded::Partial`] counted in
/// its `consumed`: the same whatever the reads were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    Reply(Response),
    Skip(usize),
    Prompt(usize),
    Closing(usize),
    Error(&'static str),
}

/// What a run of reads gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fed {
    pub seen: Vec<Seen>,
    /// What the codec wrote in answer (close replies), and at the end the answer it owes (the
    /// latest ping's pong), as a connection whose output drains only then would send.
    pub out: Vec<u8>,
    /// The most bytes held in the buffer while the codec asked for more.
    pub max_pending: usize,
    /// Bytes left unparsed at the end (0 after an error or a close: the connection is gone, and
    /// how much of a reply was taken before is no one's business).
    pub left: usize,
}

/// Feeds `wire` to `codec` in reads ending at each of `ends` (ascending), then at its end; the
/// replies are matched to `first` and the ids after it (each asking what it asked). Panics if the codec asks for more bytes with
/// its bound already buffered, or takes nothing while saying it took something.
pub(crate) fn feed(
    codec: &mut dyn Codec,
    wire: &[u8],
    ends: &[usize],
    first: impl Into<Sent>,
) -> Fed {
    let first: Sent = first.into();
    let bound = codec.max_buffered();
    let mut fed = Fed {
        seen: Vec::new(),
        out: Vec::new(),
        max_pending: 0,
        left: 0,
    };
    let (mut pos, mut partial, mut id) = (0, 0, first.id);
    for avail in ends.iter().copied().chain([wire.len()]) {
        let avail = avail.clamp(pos, wire.len());
        loop {
            let seen =
                match codec.decode(&wire[pos..avail], Some(Sent { id, ..first }), &mut fed.out) {
                    Ok(None) => {
                        let pending = avail - pos;
                        assert!(
                            pending < bound,
                            "asked for more with {pending} of {bound} held"
                        );
                        fed.max_pending = fed.max_pending.max(pending);
                        break;
                    }
                    Ok(Some(d)) => d,
                    Err(e) => {
                        fed.seen.push(Seen::Error(e.kind));
                        return fed;
                    }
                };
            let n = match seen {
                Decoded::Reply(r) => r.consumed,
                Decoded::Partial(n)
                | Decoded::Skip(n)
                | Decoded::Prompt(n)
                | Decoded::Closing(n) => n,
            };
            assert!(
                (1..=avail - pos).contains(&n),
                "{seen:?} of {} bytes",
                avail - pos
            );
            pos += n;
            match seen {
                Decoded::Partial(n) => partial += n,
                Decoded::Reply(r) => {
                    id += 1;
                    let consumed = std::mem::take(&mut partial) + r.consumed;
                    fed.seen.push(Seen::Reply(Response { consumed, ..r }));
                }
                Decoded::Skip(n) => fed.seen.push(Seen::Skip(n)),
                Decoded::Prompt(n) => fed.seen.push(Seen::Prompt(n)),
                Decoded::Closing(n) => {
                    fed.seen.push(Seen::Closing(n));
                    return fed;
                }
            }
        }
    }
    fed.left = wire.len() - pos;
    codec.take_answer(&mut fed.out);
    fed
}

/// `wire` fed whole, and fed in two reads cut at every byte: the same replies every time.
/// Returns what it saw whole.
pub(crate) fn same_at_every_cut(make: impl Fn() -> Box<dyn Codec>, wire: &[u8]) -> Fed {
    let whole = feed(&mut *make(), wire, &[], 1);
    for cut in 0..wire.len() {
        let cut_fed = feed(&mut *make(), wire, &[cut], 1);
        assert_eq!(
            (&cut_fed.seen, &cut_fed.out, cut_fed.left),
            (&whole.seen, &whole.out, whole.left),
            "cut at {cut}"
        );
    }
    whole
}
