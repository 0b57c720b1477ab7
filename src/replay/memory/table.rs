//! The set of recorded fingerprints of one shard: fixed-size slots that
//! carry their own expiry, so an expired slot is simply free again.
//!
//! - **Cuckoo buckets.** Each fingerprint has two candidate buckets of four
//!   slots (one cache line each); it is in one of them or not at all, so a
//!   lookup reads two cache lines and an expired slot can be reused at once
//!   (there are no probe chains for it to break). An insert that finds both
//!   buckets full moves an occupant to its other bucket, and so on.
//! - **Segments.** Buckets live in segments of at most [`SEGMENT_BUCKETS`]
//!   buckets (16 KiB), reached through a directory indexed by the
//!   fingerprint's top bits (extendible hashing). When a segment runs out of
//!   room it doubles (while small) or splits in two: growth rehashes at most
//!   one segment, never the whole table, and never blocks other shards.
//!   Expired slots are dropped when their segment is rebuilt.

/// The most buckets of one segment before it splits instead of doubling.
pub(super) const SEGMENT_BUCKETS: usize = 256;
/// Slots per bucket.
const WAYS: usize = 4;
/// Moves tried before an insert gives up and grows the segment: few, as
/// each is a cache miss; segments then split when about 80% full (58 to
/// 91% measured).
const MAX_KICKS: usize = 8;
/// The deepest directory: beyond it, segments only double.
const MAX_DEPTH: u32 = 32;

/// 96 bits of a keyed hash of (key id, nonce), and an expiry.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(C)]
pub(super) struct Slot {
    /// Directory bits at the top, first bucket index at the bottom.
    a: u64,
    /// Second bucket index at the bottom.
    b: u32,
    /// The store second (see `Clock`) through which the slot is live, plus
    /// one; 0 for a slot never used.
    exp: u32,
}

impl Slot {
    /// The slot for hash `(h0, h1)`, live through `exp` (already plus one).
    pub(super) fn new(h0: u64, h1: u64, exp: u32) -> Self {
        Self {
            a: h0,
            b: h1 as u32,
            exp,
        }
    }

    /// The store second through which it is live, plus one.
    pub(super) fn expiry(&self) -> u32 {
        self.exp
    }

    fn same(&self, other: &Self) -> bool {
        self.a == other.a && self.b == other.b
    }

    fn live(&self, now: u32) -> bool {
        self.exp >= now
    }

    fn buckets(&self, mask: usize) -> (usize, usize) {
        (self.a as usize & mask, self.b as usize & mask)
    }

    fn directory_index(&self, depth: u32) -> usize {
        if depth == 0 {
            0
        } else {
            (self.a >> (64 - depth)) as usize
        }
    }
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket([Slot; WAYS]);

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

struct Segment {
    /// How many top bits of `a` all its slots share.
    depth: u32,
    buckets: Box<[Bucket]>,
}

impl Segment {
    fn new(depth: u32, buckets: usize) -> Self {
        Self {
            depth,
            buckets: vec![Bucket::default(); buckets].into_boxed_slice(),
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn contains(&self, slot: &Slot, now: u32) -> bool {
        let (b1, b2) = slot.buckets(self.mask());
        let hit = |b: usize| {
            self.buckets[b]
                .0
                .iter()
                .any(|s| s.same(slot) && s.live(now))
        };
        hit(b1) || hit(b2)
    }

    /// Puts `slot` in a free place of `bucket`, if there is one.
    fn put(&mut self, bucket: usize, slot: Slot, now: u32) -> bool {
        let Some(free) = self.buckets[bucket].0.iter_mut().find(|s| !s.live(now)) else {
            return false;
        };
        *free = slot;
        true
    }

    /// Places `slot`, moving others if need be; gives back the one left
    /// without a place if it runs out of moves.
    fn place(&mut self, mut slot: Slot, now: u32, rng: &mut u64) -> Result<(), Slot> {
        let (b1, b2) = slot.buckets(self.mask());
        if self.put(b1, slot, now) || self.put(b2, slot, now) {
            return Ok(());
        }
        let mut bucket = if next(rng) & 1 == 0 { b1 } else { b2 };
        for _ in 0..MAX_KICKS {
            let way = (next(rng) >> 32) as usize % WAYS;
            std::mem::swap(&mut slot, &mut self.buckets[bucket].0[way]);
            let (v1, v2) = slot.buckets(self.mask());
            bucket = if bucket == v1 { v2 } else { v1 };
            if self.put(bucket, slot, now) {
                return Ok(());
            }
        }
        Err(slot)
    }

    /// Moves every live slot out, leaving `buckets` empty buckets.
    fn drain_live(&mut self, now: u32, buckets: usize, into: &mut Vec<Slot>) {
        if buckets == self.buckets.len() {
            into.extend(
                self.buckets
                    .iter()
                    .flat_map(|bucket| bucket.0.iter())
                    .filter(|s| s.live(now)),
            );
            self.buckets.fill(Bucket::default());
        } else {
            let old = std::mem::replace(
                &mut self.buckets,
                vec![Bucket::default(); buckets].into_boxed_slice(),
            );
            into.extend(
                old.iter()
                    .flat_map(|bucket| bucket.0.iter())
                    .filter(|s| s.live(now)),
            );
        }
    }
}

/// xorshift64: which occupant to move; needs no quality beyond variety.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// One shard's fingerprints.
pub(super) struct Table {
    /// `directory.len() == 1 << depth`.
    depth: u32,
    /// Segment index by the fingerprint's top `depth` bits.
    directory: Vec<u32>,
    segments: Vec<Segment>,
    rng: u64,
}

impl Table {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            depth: 0,
            directory: vec![0],
            segments: vec![Segment::new(0, 1)],
            rng: seed | 1,
        }
    }

    fn segment_of(&self, slot: &Slot) -> usize {
        self.directory[slot.directory_index(self.depth)] as usize
    }

    /// Starts reading `slot`'s two buckets from memory, so that the work
    /// done before [`contains`](Self::contains) overlaps the cache misses
    /// (there is no safe prefetch instruction: a load whose result is kept
    /// does the same).
    pub(super) fn prefetch(&self, slot: &Slot) {
        let segment = &self.segments[self.segment_of(slot)];
        let (b1, b2) = slot.buckets(segment.mask());
        std::hint::black_box(segment.buckets[b1].0[0].exp ^ segment.buckets[b2].0[0].exp);
    }

    /// Whether a live slot holds `slot`'s fingerprint.
    pub(super) fn contains(&self, slot: &Slot, now: u32) -> bool {
        self.segments[self.segment_of(slot)].contains(slot, now)
    }

    /// Records `slot` (whose fingerprint is not live here).
    pub(super) fn insert(&mut self, slot: Slot, now: u32) {
        let segment = self.segment_of(&slot);
        let Err(homeless) = self.segments[segment].place(slot, now, &mut self.rng) else {
            return;
        };
        let mut pending = vec![homeless];
        self.grow(segment, now, &mut pending);
        while let Some(slot) = pending.pop() {
            let segment = self.segment_of(&slot);
            if let Err(homeless) = self.segments[segment].place(slot, now, &mut self.rng) {
                pending.push(homeless);
                self.grow(segment, now, &mut pending);
            }
        }
    }

    /// Makes room in a segment that had none for a slot: doubles it while
    /// small, else splits it in two; its live slots go to `pending`, to be
    /// placed again. (Expired slots are free already: a segment grows only
    /// when it is nearly full of live ones.)
    fn grow(&mut self, index: usize, now: u32, pending: &mut Vec<Slot>) {
        let segment = &mut self.segments[index];
        let buckets = segment.buckets.len();
        if buckets < SEGMENT_BUCKETS || segment.depth >= MAX_DEPTH {
            segment.drain_live(now, buckets * 2, pending);
            return;
        }
        let depth = segment.depth + 1;
        segment.depth = depth;
        segment.drain_live(now, buckets, pending);
        if depth > self.depth {
            // Each directory entry becomes two: the index gains a low bit.
            self.directory = self.directory.iter().flat_map(|&s| [s, s]).collect();
            self.depth += 1;
        }
        let sibling = u32::try_from(self.segments.len()).expect("fewer than 2^32 segments");
        self.segments.push(Segment::new(depth, buckets));
        // The old segment had the entries of a run of `2 << shift` sharing
        // its prefix; the second half of the run, whose bit number `depth`
        // (from the top) is 1, now points at its sibling.
        let shift = self.depth - depth;
        let first = self
            .directory
            .iter()
            .position(|&entry| entry as usize == index)
            .expect("a segment has directory entries");
        let half = 1 << shift;
        debug_assert!(self.directory[first..first + 2 * half]
            .iter()
            .all(|&entry| entry as usize == index));
        self.directory[first + half..first + 2 * half].fill(sibling);
    }

    /// Slots allocated, live or not.
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.segments.iter().map(|s| s.buckets.len() * WAYS).sum()
    }

    /// Bytes held by the table's own allocations.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.segments
            .iter()
            .map(|s| std::mem::size_of_val(&*s.buckets))
            .sum::<usize>()
            + self.segments.capacity() * std::mem::size_of::<Segment>()
            + self.directory.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(i: u64, exp: u32) -> Slot {
        // A cheap bijective mix: distinct, well-spread fingerprints.
        let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        Slot::new(x, x.rotate_left(29) ^ i, exp)
    }

    #[test]
    fn holds_everything_it_was_given_through_growth() {
        let mut table = Table::new(7);
        let n = 200_000;
        for i in 0..n {
            let s = slot(i, 100);
            assert!(!table.contains(&s, 50));
            table.insert(s, 50);
        }
        for i in 0..n {
            assert!(table.contains(&slot(i, 100), 50), "lost {i}");
            assert!(!table.contains(&slot(i + n, 100), 50));
        }
        let load = n as f64 / table.slots() as f64;
        assert!(load > 0.45, "load {load}");
        // Every segment but the small first ones is full size.
        assert!(table
            .segments
            .iter()
            .all(|s| s.buckets.len() == SEGMENT_BUCKETS));
    }

    #[test]
    fn expired_slots_are_free_and_not_found() {
        let mut table = Table::new(7);
        for i in 0..10_000 {
            table.insert(slot(i, 10), 5);
        }
        let slots = table.slots();
        assert!(table.contains(&slot(3, 10), 10), "live through its second");
        assert!(!table.contains(&slot(3, 10), 11));
        // The same number again, later: the expired slots are reused.
        for i in 10_000..20_000 {
            table.insert(slot(i, 30), 11);
        }
        assert_eq!(table.slots(), slots);
        assert!(table.contains(&slot(15_000, 30), 20));
    }
}
