//! Who we upload to: tit-for-tat. Every rechoke interval the interested peers that gave us the
//! most since the last one (once we seed: that lack the most pieces) get the regular slots,
//! colleagues on our site first; one more slot rotates at random every optimistic interval so
//! newcomers get a chance to prove themselves. Under an upload cap, rounds that left the cap
//! unused get more slots.
//!
//! A seed has nothing to gain, so it gives where the swarm is furthest behind. Ranking by
//! what peers took from us kept feeding whoever had the slot; the company's offices of five,
//! with half the members of an office of ten to be unchoked, fell behind in the first hours
//! and finished last (docs/simulation.md, item 14).

use super::PeerKey;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub peer: PeerKey,
    /// Higher first. Leeching: the bytes they sent us since the last rechoke. Seeding: the
    /// pieces they lack.
    pub merit: u64,
    pub snubbed: bool,
    /// Same site: wins ties.
    pub local: bool,
}

/// The peers to unchoke: interested colleagues (same site, `local`) first, then the `slots`
/// best by merit (snubbed peers last, otherwise in the order given), plus `optimistic` when it
/// is still interested and not among them. Every colleague that is not snubbed gets a slot,
/// however many there are (`regular_slots`).
/// With sites on, an office is a near-closed economy: it takes about one copy over its WAN
/// link and copies every piece to each member over the members' own uplinks, the binding
/// resource (the company simulation: 94-97 % busy from mid-run, against the field laptops'
/// 55 %). A colleague therefore gets our upload before a remote peer that gave us more;
/// remote peers get what colleagues leave, the optimistic slot, and the seeds outside the
/// office — among them a capped server that opens slots until its cap is used
/// (`slots_for_next_round`), which is what keeps laptops in the field fed. (Ranking by rate
/// alone, locality breaking ties, left every laptop at 1.29 x the bound instead of 1.23 x;
/// docs/simulation.md, item 10.)
/// Tit-for-tat among colleagues made laggards: in an office of nine, six slots left two
/// colleagues choked by each member, ranked by what they gave, so whoever fell behind gave
/// less and got less (company simulation: seven of a nine-laptop office done by 12.5 h, the
/// last at 13.6 h). The LAN is not the limit and an organisation's laptops need no
/// incentive to share, so each colleague gets an equal part of our uplink instead
/// (docs/simulation.md, item 12).
pub(crate) fn choose_unchoked(
    candidates: &[Candidate],
    slots: usize,
    optimistic: Option<PeerKey>,
) -> Vec<PeerKey> {
    let mut ranked: Vec<&Candidate> = candidates.iter().collect();
    // Stable: equal merits (mostly the zeros of peers that gave nothing yet) keep the caller's
    // order, which the engine shuffles. In key order every uploader with a slot to spare chose
    // the same early-connected peers: some laptops had a dozen uploaders, others one or two.
    ranked.sort_by(|a, b| {
        a.snubbed
            .cmp(&b.snubbed)
            .then(b.local.cmp(&a.local))
            .then(b.merit.cmp(&a.merit))
    });
    let mut chosen: Vec<PeerKey> = ranked
        .iter()
        .take(regular_slots(slots, colleagues(candidates)))
        .map(|c| c.peer)
        .collect();
    if let Some(opt) = optimistic {
        if !chosen.contains(&opt) && candidates.iter().any(|c| c.peer == opt) {
            chosen.push(opt);
        }
    }
    chosen
}

/// Candidates that are colleagues and not snubbed: each gets a regular slot.
pub(crate) fn colleagues(candidates: &[Candidate]) -> usize {
    candidates.iter().filter(|c| c.local && !c.snubbed).count()
}

/// Regular slots for a round with `slots` configured and `colleagues` interested colleagues
/// that are not snubbed: enough for all of them.
pub(crate) fn regular_slots(slots: usize, colleagues: usize) -> usize {
    slots.max(colleagues)
}

/// A round that sent less than this share of the uplink's capacity leaves room for more slots.
const CAPACITY_USED: f64 = 0.9;

/// How many regular slots the next round has, given what the last one sent against the
/// uplink's `capacity` (bytes/s): after a round under 90 % of it while interested peers
/// waited choked, as many more as would have filled 90 % at the round's rate per slot (at
/// least one, at most twice as many), never more than `ceiling`. Receivers share their
/// downlinks with everyone else sending to them, so a few slots rarely fill an uplink.
/// Growing in proportion reaches the right count in a few rounds however far off it is,
/// which matters when a round is long against the whole transfer.
pub(crate) fn slots_for_next_round(
    current: usize,
    ceiling: usize,
    capacity: f64,
    sent_per_second: f64,
    peers_waiting: bool,
) -> usize {
    let target = CAPACITY_USED * capacity;
    if sent_per_second >= target || !peers_waiting {
        return current;
    }
    let per_slot = sent_per_second / current.max(1) as f64;
    let wanted = if per_slot > 0.0 {
        (target / per_slot).ceil() as usize
    } else {
        usize::MAX
    };
    wanted
        .clamp(current + 1, 2 * current.max(1))
        .min(ceiling.max(current))
}

/// A new optimistic unchoke among interested peers not already chosen by merit.
pub(crate) fn pick_optimistic(
    candidates: &[Candidate],
    regular: &[PeerKey],
    rng: &mut fastrand::Rng,
) -> Option<PeerKey> {
    let pool: Vec<PeerKey> = candidates
        .iter()
        .map(|c| c.peer)
        .filter(|p| !regular.contains(p))
        .collect();
    (!pool.is_empty()).then(|| pool[rng.usize(0..pool.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(peer: u64, merit: u64, snubbed: bool) -> Candidate {
        Candidate {
            peer: PeerKey(peer),
            merit,
            snubbed,
            local: false,
        }
    }

    #[test]
    fn colleagues_come_before_faster_remote_peers() {
        let mut near = c(7, 20, false);
        near.local = true;
        let mut slow_near = c(8, 0, true);
        slow_near.local = true;
        let cands = [c(1, 90, false), c(2, 80, false), near, slow_near];
        assert_eq!(
            choose_unchoked(&cands, 2, None),
            vec![PeerKey(7), PeerKey(1)],
            "a colleague first, then the best remote peer"
        );
        assert_eq!(
            choose_unchoked(&cands, 4, None),
            vec![PeerKey(7), PeerKey(1), PeerKey(2), PeerKey(8)],
            "a snubbed colleague still comes last"
        );
    }

    #[test]
    fn every_colleague_gets_a_slot_however_many_there_are() {
        let local = |peer, rate| Candidate {
            local: true,
            ..c(peer, rate, false)
        };
        let mut cands: Vec<Candidate> = (1..=8).map(|p| local(p, p * 10)).collect();
        cands.push(c(20, 500, false));
        cands.push(c(21, 400, false));
        let chosen = choose_unchoked(&cands, 6, Some(PeerKey(21)));
        let expected: Vec<PeerKey> = (1..=8).map(PeerKey).rev().chain([PeerKey(21)]).collect();
        assert_eq!(
            chosen, expected,
            "all eight colleagues, none of the faster remote peers but the optimistic one"
        );
        let mut snubbed = local(9, 90);
        snubbed.snubbed = true;
        cands.push(snubbed);
        assert_eq!(
            choose_unchoked(&cands, 6, None).len(),
            8,
            "a snubbed colleague does not add a slot"
        );
    }

    #[test]
    fn best_merits_win_and_snubbed_peers_come_last() {
        let cands = [
            c(1, 10, false),
            c(2, 50, false),
            c(3, 99, true),
            c(4, 30, false),
            c(5, 0, false),
        ];
        assert_eq!(
            choose_unchoked(&cands, 2, None),
            vec![PeerKey(2), PeerKey(4)]
        );
        assert_eq!(
            choose_unchoked(&cands, 2, Some(PeerKey(3))),
            vec![PeerKey(2), PeerKey(4), PeerKey(3)]
        );
        assert_eq!(choose_unchoked(&cands, 2, Some(PeerKey(9))).len(), 2);
    }

    #[test]
    fn equal_merits_keep_the_order_given() {
        // The engine shuffles candidates: among peers that gave nothing, no key is favoured.
        let cands = [
            c(3, 0, false),
            c(1, 0, false),
            c(9, 5, false),
            c(2, 0, false),
        ];
        assert_eq!(
            choose_unchoked(&cands, 3, None),
            vec![PeerKey(9), PeerKey(3), PeerKey(1)]
        );
    }

    #[test]
    fn slots_grow_while_the_uplink_is_not_nearly_used_and_peers_wait() {
        let cap = 1000.0;
        assert_eq!(
            slots_for_next_round(4, 60, cap, 600.0, true),
            6,
            "900 at 150 a slot"
        );
        assert_eq!(
            slots_for_next_round(4, 60, cap, 850.0, true),
            5,
            "at least one more"
        );
        assert_eq!(
            slots_for_next_round(4, 60, cap, 100.0, true),
            8,
            "at most twice"
        );
        assert_eq!(
            slots_for_next_round(4, 60, cap, 0.0, true),
            8,
            "nothing sent"
        );
        assert_eq!(
            slots_for_next_round(4, 60, 0.0, 0.0, true),
            4,
            "no capacity known"
        );
        assert_eq!(
            slots_for_next_round(9, 60, cap, 950.0, true),
            9,
            "uplink used"
        );
        assert_eq!(
            slots_for_next_round(9, 60, cap, 600.0, false),
            9,
            "nobody waits"
        );
        assert_eq!(
            slots_for_next_round(60, 60, cap, 600.0, true),
            60,
            "ceiling"
        );
    }

    #[test]
    fn optimistic_is_never_a_regular() {
        let cands = [c(1, 10, false), c(2, 50, false), c(3, 0, false)];
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..20 {
            assert_eq!(
                pick_optimistic(&cands, &[PeerKey(1), PeerKey(2)], &mut rng),
                Some(PeerKey(3))
            );
        }
        assert_eq!(pick_optimistic(&cands[..1], &[PeerKey(1)], &mut rng), None);
    }
}
