//! The shared ticketer: two processes' ticketers from one seed open each other's tickets, in
//! the period they were sealed in and the next, and nothing else opens.

use super::*;

const P: u64 = 1_000;

fn seed_at(period: u64) -> TicketSeed {
    let mut bytes = [7u8; SEED_BYTES];
    bytes[..8].copy_from_slice(&period.to_be_bytes());
    TicketSeed::from_bytes(&bytes)
}

#[test]
fn processes_handed_one_seed_open_each_others_tickets() {
    let (a, b) = (
        SharedTicketer::at(seed_at(P), P).unwrap(),
        SharedTicketer::at(seed_at(P), P).unwrap(),
    );
    let ticket = a.seal_at(P, b"session state").unwrap();
    assert_eq!(
        b.open_at(P, &ticket).as_deref(),
        Some(&b"session state"[..])
    );
    // Random nonces: the same state sealed twice differs.
    assert_ne!(a.seal_at(P, b"session state"), Some(ticket));
    // Another server's seed opens nothing of this one's.
    let mut other = [8u8; SEED_BYTES];
    other[..8].copy_from_slice(&P.to_be_bytes());
    let c = SharedTicketer::at(TicketSeed::from_bytes(&other), P).unwrap();
    assert_eq!(c.open_at(P, &a.seal_at(P, b"x").unwrap()), None);
}

#[test]
fn a_ticket_opens_in_its_period_and_the_next_only() {
    let sealer = SharedTicketer::at(seed_at(P), P).unwrap();
    let ticket = sealer.seal_at(P, b"s").unwrap();
    // A process started a period later, handed the supervisor's seed kept one period behind.
    let mut kept = seed_at(P);
    kept.keep_up_with(P + 1);
    assert_eq!(kept.period, P, "one period behind: already there");
    let later = SharedTicketer::at(kept.clone(), P + 1).unwrap();
    assert_eq!(later.open_at(P + 1, &ticket).as_deref(), Some(&b"s"[..]));
    // And its tickets open in the first process once its clock is there too.
    let newer = later.seal_at(P + 1, b"t").unwrap();
    assert_eq!(sealer.open_at(P + 1, &newer).as_deref(), Some(&b"t"[..]));
    // Two periods on, the key that sealed it is gone.
    assert_eq!(sealer.open_at(P + 2, &ticket), None);
    assert_eq!(later.open_at(P + 2, &ticket), None);
    // A seed far behind is moved on to one period behind, its older states overwritten.
    let mut old = seed_at(P);
    old.keep_up_with(P + 5);
    assert_eq!(old.period, P + 4);
    let late = SharedTicketer::at(old, P + 5).unwrap();
    assert_eq!(late.open_at(P + 5, &newer), None);
    let fresh = late.seal_at(P + 5, b"u").unwrap();
    assert_eq!(sealer.open_at(P + 5, &fresh).as_deref(), Some(&b"u"[..]));
}

#[test]
fn tampered_short_or_foreign_tickets_open_to_nothing() {
    let t = SharedTicketer::at(seed_at(P), P).unwrap();
    let ticket = t.seal_at(P, b"session").unwrap();
    for i in 0..ticket.len() {
        let mut bad = ticket.clone();
        bad[i] ^= 0x40;
        assert_eq!(t.open_at(P, &bad), None, "byte {i} flipped");
    }
    for len in 0..ticket.len() {
        assert_eq!(t.open_at(P, &ticket[..len]), None, "cut to {len}");
    }
    // A period the keys never had (the future, or long past).
    let mut future = ticket.clone();
    future[..8].copy_from_slice(&(P + 1).to_be_bytes());
    assert_eq!(t.open_at(P, &future), None);
}

#[test]
fn a_seed_goes_to_a_process_and_back_unchanged_and_hides_its_secret() {
    let seed = TicketSeed::random().unwrap();
    let back = TicketSeed::from_bytes(&seed.to_bytes());
    assert_eq!((back.period, back.secret), (seed.period, seed.secret));
    assert_eq!(seed.period, period_now());
    let shown = format!("{seed:?}");
    assert!(!shown.contains("secret"), "{shown}");
}
