//! Who we upload to: tit-for-tat. Every rechoke interval the interested peers that gave us the
//! most since the last one (or, once we seed, took the most from us) get the regular slots; one
//! more slot rotates at random every optimistic interval so newcomers get a chance to prove
//! themselves.

use super::PeerKey;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub peer: PeerKey,
    /// Leeching: their upload to us. Seeding: our upload to them. Over the rechoke interval.
    pub rate: u64,
    pub snubbed: bool,
    /// Same site: wins ties.
    pub local: bool,
}

/// The peers to unchoke: the `slots` best by rate (snubbed peers last, a local peer before a
/// remote one as fast, otherwise in the order given), plus `optimistic` when it is still
/// interested and not among them.
/// `candidates` holds only interested peers. Locality only breaks ties: a site whose members
/// served each other first starved the peers outside it (they got optimistic slots only), and
/// what crosses the WAN link is the requester's choice (see `remote_share`), not ours.
pub(crate) fn choose_unchoked(
    candidates: &[Candidate],
    slots: usize,
    optimistic: Option<PeerKey>,
) -> Vec<PeerKey> {
    let mut ranked: Vec<&Candidate> = candidates.iter().collect();
    // Stable: equal rates (mostly the zeros of peers that gave nothing yet) keep the caller's
    // order, which the engine shuffles. In key order every uploader with a slot to spare chose
    // the same early-connected peers: some laptops had a dozen uploaders, others one or two.
    ranked.sort_by(|a, b| {
        a.snubbed
            .cmp(&b.snubbed)
            .then(b.rate.cmp(&a.rate))
            .then(b.local.cmp(&a.local))
    });
    let mut chosen: Vec<PeerKey> = ranked.iter().take(slots).map(|c| c.peer).collect();
    if let Some(opt) = optimistic {
        if !chosen.contains(&opt) && candidates.iter().any(|c| c.peer == opt) {
            chosen.push(opt);
        }
    }
    chosen
}

/// A new optimistic unchoke among interested peers not already chosen by rate.
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

    fn c(peer: u64, rate: u64, snubbed: bool) -> Candidate {
        Candidate {
            peer: PeerKey(peer),
            rate,
            snubbed,
            local: false,
        }
    }

    #[test]
    fn local_peers_win_ties_and_only_ties() {
        let mut near = c(7, 80, false);
        near.local = true;
        let cands = [c(1, 90, false), c(2, 80, false), near];
        assert_eq!(
            choose_unchoked(&cands, 2, None),
            vec![PeerKey(1), PeerKey(7)]
        );
    }

    #[test]
    fn best_rates_win_and_snubbed_peers_come_last() {
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
    fn equal_rates_keep_the_order_given() {
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
