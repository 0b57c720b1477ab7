//! How many entries are live, kept by expiry second so that a second's
//! worth of entries leaves the count in one step, without visiting them.

use std::collections::VecDeque;

/// Live entries, counted per expiry second.
///
/// Seconds are the store's (see `Clock`): an entry counts while its expiry
/// second is at or after now. Memory: 8 bytes per distinct expiry second
/// held, so never more than 8 bytes per live entry.
#[derive(Debug, Default)]
pub(super) struct Expiring {
    live: usize,
    /// `(expiry second, entries)`, ordered by second; one pair per second
    /// unless a count would overflow.
    by_second: VecDeque<(u32, u32)>,
}

impl Expiring {
    /// Entries counted.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Forgets every second before `now`; returns how many entries left.
    pub(super) fn expire(&mut self, now: u32) -> usize {
        let mut gone = 0;
        while let Some(&(second, count)) = self.by_second.front() {
            if second >= now {
                break;
            }
            gone += count as usize;
            self.by_second.pop_front();
        }
        self.live -= gone;
        if self.by_second.is_empty() && self.by_second.capacity() > 64 {
            self.by_second = VecDeque::new();
        }
        gone
    }

    /// Counts one more entry, live through `second`.
    pub(super) fn add(&mut self, second: u32) {
        self.live += 1;
        // Clients' clocks agree closely, so the new second is almost always the last.
        if let Some((last, count)) = self.by_second.back_mut() {
            if *last == second && *count < u32::MAX {
                *count += 1;
                return;
            }
            if *last < second {
                self.by_second.push_back((second, 1));
                return;
            }
        } else {
            self.by_second.push_back((second, 1));
            return;
        }
        // Out of order: the first pair at or after `second`.
        let at = self.by_second.partition_point(|&(s, _)| s < second);
        match self.by_second.get_mut(at) {
            Some((s, count)) if *s == second && *count < u32::MAX => *count += 1,
            _ => self.by_second.insert(at, (second, 1)),
        }
    }

    /// Whether nothing is counted.
    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_until_the_end_of_each_second() {
        let mut counts = Expiring::default();
        for second in [10, 12, 11, 12, 10, 30] {
            counts.add(second);
        }
        assert_eq!(counts.live(), 6);
        assert_eq!(counts.expire(10), 0, "alive through its second");
        assert_eq!(counts.expire(11), 2);
        assert_eq!(counts.expire(13), 3);
        assert_eq!(counts.live(), 1);
        // Time going backwards changes nothing already forgotten.
        assert_eq!(counts.expire(5), 0);
        counts.add(7);
        assert_eq!(counts.live(), 2);
        assert_eq!(counts.expire(31), 2);
        assert!(counts.is_empty());
    }

    #[test]
    fn seconds_stay_ordered() {
        let mut counts = Expiring::default();
        let mut x = 12345u32;
        for _ in 0..1000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            counts.add(100 + (x >> 16) % 50);
        }
        let seconds: Vec<u32> = counts.by_second.iter().map(|&(s, _)| s).collect();
        assert!(seconds.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            counts
                .by_second
                .iter()
                .map(|&(_, c)| c as usize)
                .sum::<usize>(),
            1000
        );
    }
}
