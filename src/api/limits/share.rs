//! How instances split what is left of a shared limit until their next sync.

/// The part of `remaining` that the instance of `rank` (0-based) among `count` live
/// instances may admit before its next sync: `remaining / count` each, and one more
/// for `remaining % count` of them, so the shares of every rank sum exactly to
/// `remaining`. Which ranks get the extra ones turns with `turn` (all instances pass
/// the same wall-clock slot), so a scope used through one instance only is not left
/// short of its last few hits for long.
pub fn share(remaining: u32, count: u32, rank: u32, turn: u64) -> u32 {
    let count = count.max(1);
    let rank = rank.min(count - 1);
    let shifted = (u64::from(rank) + turn) % u64::from(count);
    remaining / count + u32::from(shifted < u64::from(remaining % count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_exactly_to_what_is_left() {
        for count in 1..=7 {
            for remaining in 0..=50 {
                for turn in 0..count {
                    let shares: Vec<u32> = (0..count)
                        .map(|rank| share(remaining, count, rank, u64::from(turn)))
                        .collect();
                    assert_eq!(shares.iter().sum::<u32>(), remaining, "{remaining} over {count}");
                    let (least, most) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                    assert!(most - least <= 1, "{shares:?}");
                }
            }
        }
    }

    #[test]
    fn the_extra_ones_go_round_every_rank() {
        // 1 left among 3: each rank holds it in one of three turns.
        for rank in 0..3 {
            let held: u32 = (0..3).map(|turn| share(1, 3, rank, turn)).sum();
            assert_eq!(held, 1, "rank {rank}");
        }
    }

    #[test]
    fn one_instance_gets_everything_and_a_stale_rank_gets_the_last_share() {
        assert_eq!(share(10, 1, 0, 5), 10);
        assert_eq!(share(10, 0, 0, 0), 10, "no peers known yet: this instance alone");
        assert_eq!(share(9, 3, 7, 0), 3, "a rank past the count is the last one");
    }
}
