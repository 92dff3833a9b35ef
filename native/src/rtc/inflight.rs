//! How much a data channel may have sent and not yet had acknowledged: a small multiple of the
//! path's bandwidth-delay product, measured as the channel runs.
//!
//! rtc-sctp recovers a loss that fast retransmit misses only when its retransmission timer
//! fires, after at least one second (RFC 9260's RTO.Min, a constant in rtc-sctp). Data beyond
//! what the path holds only waits in a queue — a router's, or the receiver's socket buffer — and
//! when that queue overflows, every lost packet may cost a second of silence. Keeping no more in
//! flight than the path carries avoids those losses on a loopback as on a WAN, where a fixed
//! budget would either overflow the receiver or starve a long path.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Never less in flight than this, so a channel starts fast and small paths keep moving.
const FLOOR: usize = 32 * 1024;
/// How long a delivery-rate sample counts toward the maximum.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// How far past the measured bandwidth-delay product the budget reaches: the margin that lets
/// it grow (by a quarter per round trip) while the delivery rate grows with it, and that
/// survives noise in the rate samples.
const GAIN: f64 = 1.25;
/// Rate samples span at least this long, and two round trips: shorter spans measure bursts of
/// acknowledgements, not the path.
const MIN_RATE_SPAN: Duration = Duration::from_millis(10);

/// The in-flight budget of one channel's sending side.
#[derive(Debug)]
pub struct InflightBudget {
    ceiling: usize,
    /// Bytes handed to the channel since it opened.
    handed: u64,
    /// When each message still unacknowledged was handed over, and the stream offset it ends at.
    unacked: VecDeque<(Instant, u64)>,
    /// Bytes acknowledged at the start of the current rate sample, and when.
    rate_mark: Option<(Instant, u64)>,
    /// Delivery-rate samples (bytes per second) of the last `RATE_WINDOW`, decreasing.
    rates: VecDeque<(Instant, f64)>,
    /// The smallest round-trip time seen. It is kept for the channel's life: samples taken
    /// while the budget's own queue is in flight are longer, and letting them replace it would
    /// grow the budget, the queue and the next samples in turn. A moved peer is a new channel.
    min_rtt: Option<Duration>,
}

impl InflightBudget {
    /// A budget that never exceeds `ceiling` (the channel's own hard limit).
    pub fn new(ceiling: usize) -> Self {
        Self {
            ceiling: ceiling.max(FLOOR),
            handed: 0,
            unacked: VecDeque::new(),
            rate_mark: None,
            rates: VecDeque::new(),
            min_rtt: None,
        }
    }

    /// Bytes the channel may have unacknowledged now: a little more than the path's
    /// bandwidth-delay product. A message may be handed over while no more than this is.
    pub fn limit(&self) -> usize {
        let (Some(rate), Some(rtt)) = (self.rates.front(), self.min_rtt) else {
            return FLOOR;
        };
        let product = GAIN * rate.1 * rtt.as_secs_f64();
        // A float-to-int cast saturates; the clamp keeps it in [FLOOR, ceiling].
        (product as usize).clamp(FLOOR, self.ceiling)
    }

    /// `bytes` were handed to the channel at `now`.
    pub fn handed(&mut self, now: Instant, bytes: usize) {
        self.handed += bytes as u64;
        self.unacked.push_back((now, self.handed));
    }

    /// The channel reports `outstanding` bytes not yet acknowledged at `now`.
    pub fn observe(&mut self, now: Instant, outstanding: usize) {
        let acked = self.handed.saturating_sub(outstanding as u64);
        while let Some(&(at, end)) = self.unacked.front() {
            if end > acked {
                break;
            }
            self.unacked.pop_front();
            let rtt = now.saturating_duration_since(at);
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |min| min.min(rtt)));
        }
        self.sample_rate(now, acked);
    }

    fn sample_rate(&mut self, now: Instant, acked: u64) {
        let Some((since, acked_then)) = self.rate_mark else {
            self.rate_mark = Some((now, acked));
            return;
        };
        let span = now.saturating_duration_since(since);
        let min_span = self
            .min_rtt
            .map_or(MIN_RATE_SPAN, |rtt| (2 * rtt).max(MIN_RATE_SPAN));
        if span < min_span {
            return;
        }
        self.rate_mark = Some((now, acked));
        // Nothing in flight means the sender, not the path, set the pace: no sample.
        if acked == acked_then && self.unacked.is_empty() {
            return;
        }
        let rate = (acked - acked_then) as f64 / span.as_secs_f64();
        // A sliding-window maximum: older samples no larger than this one can never be it.
        while self.rates.back().is_some_and(|&(_, r)| r <= rate) {
            self.rates.pop_back();
        }
        self.rates.push_back((now, rate));
        while self
            .rates
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > RATE_WINDOW)
        {
            self.rates.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;
    const BLOCK: usize = 16 * 1024;

    /// Drives a budget over a path that carries `rate` bytes/s with round-trip `rtt` and no
    /// queue limit of its own: whatever is sent is acknowledged `rtt` + its queueing later.
    fn settle(rate: f64, rtt: Duration) -> InflightBudget {
        let mut budget = InflightBudget::new(MIB);
        let start = Instant::now();
        let step = Duration::from_micros(100);
        // (acknowledged at, stream offset) of what is in flight.
        let mut flight: VecDeque<(Instant, u64)> = VecDeque::new();
        let mut link_free = start;
        let mut acked = 0u64;
        for tick in 0..200_000u32 {
            let now = start + step * tick;
            while flight.front().is_some_and(|&(at, _)| at <= now) {
                acked = flight.pop_front().map_or(acked, |(_, end)| end);
            }
            let outstanding = (budget.handed - acked) as usize;
            budget.observe(now, outstanding);
            if outstanding <= budget.limit() {
                budget.handed(now, BLOCK);
                // Serialised onto the link behind what is queued, then half a round trip each way.
                link_free = link_free.max(now) + Duration::from_secs_f64(BLOCK as f64 / rate);
                flight.push_back((link_free + rtt, budget.handed));
            }
        }
        budget
    }

    #[test]
    fn starts_at_the_floor() {
        assert_eq!(InflightBudget::new(MIB).limit(), FLOOR);
    }

    #[test]
    fn a_long_fat_path_gets_its_bandwidth_delay_product() {
        // 50 Mbit/s over 40 ms holds 250 kB: a fixed small budget would starve it.
        let rate = 50e6 / 8.0;
        let budget = settle(rate, Duration::from_millis(40));
        let product = rate * 0.040;
        let limit = budget.limit() as f64;
        assert!(limit >= product, "limit {limit} below the path's {product}");
        assert!(
            limit <= 1.5 * product,
            "limit {limit} far above the path's {product}"
        );
    }

    #[test]
    fn a_fast_short_path_keeps_little_in_flight() {
        // Loopback-like: 30 MB/s, 1 ms. A fixed 1 MiB budget would queue 30 ms of data.
        let budget = settle(30e6, Duration::from_millis(1));
        assert!(budget.limit() < 128 * 1024, "limit {}", budget.limit());
    }

    #[test]
    fn never_exceeds_the_ceiling() {
        let budget = {
            let mut budget = InflightBudget::new(64 * 1024);
            let start = Instant::now();
            budget.handed(start, BLOCK);
            budget.observe(start, BLOCK);
            budget.observe(start + Duration::from_millis(500), 0);
            budget.handed(start + Duration::from_millis(500), 1 << 30);
            budget.observe(start + Duration::from_millis(1000), 0);
            budget
        };
        assert!(budget.limit() <= 64 * 1024);
    }
}
