//! The simulated network: flows (one per direction of a connection) carry byte units through
//! capacity-limited resources (a host's uplink and downlink, a site's WAN link in each
//! direction, a site's LAN), sharing each resource fairly.
//!
//! Time advances in fixed steps. Every step each resource's capacity for the step is shared
//! out max-min fairly among the flows crossing it that have bytes queued (progressive filling,
//! a few rounds: a flow held back elsewhere leaves its share to the others). A flow's bytes
//! leave in order; a unit (one `Action::Send`) counts as sent when its last byte left, and
//! arrives after the path's latency, rounded up to whole steps. A unit still in progress after
//! the trickle interval is handed over in part (TCP delivers bytes as they come): a slow flow
//! must not look dead to the receiver's idle timeout.

use std::collections::VecDeque;

use bytes::Bytes;

/// A capacity-limited resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResourceId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(pub u32);

/// Rounds of progressive filling per step: enough for shares to settle within a fraction of a
/// percent in the swarms simulated here.
const FILL_ROUNDS: usize = 4;
/// Resources a flow crosses at most: uplink, downlink, source WAN (or LAN), destination WAN.
const MAX_HOPS: usize = 4;

struct Resource {
    capacity: f64,
    /// Bytes carried so far.
    carried: f64,
    // Scratch for one step.
    remaining: f64,
    users: u32,
}

struct Flow {
    hops: [ResourceId; MAX_HOPS],
    hop_count: usize,
    latency_steps: u64,
    units: VecDeque<Bytes>,
    /// Bytes of the front unit already sent.
    front_sent: usize,
    /// Bytes of the front unit already handed over (a trickle).
    front_delivered: usize,
    /// Step of the last hand-over.
    delivered_at: u64,
    queued: u64,
    /// Fractional bytes earned but not yet sendable.
    credit: f64,
    active: bool,
}

impl Flow {
    fn hops(&self) -> &[ResourceId] {
        &self.hops[..self.hop_count]
    }
}

/// What one flow got done in a step.
pub struct Sent {
    pub flow: FlowId,
    /// Units (or what is left of them) whose last byte left this step, in order, then
    /// possibly the part of the next one sent so far (a trickle).
    pub units: Vec<Bytes>,
    pub latency_steps: u64,
}

#[derive(Default)]
pub struct Network {
    resources: Vec<Resource>,
    flows: Vec<Option<Flow>>,
    free: Vec<u32>,
    active: Vec<FlowId>,
    /// Steps so far.
    steps: u64,
    /// A unit in progress for this many steps since the flow's last hand-over is handed over
    /// in part; 0: never.
    trickle_steps: u64,
    // Scratch.
    allocation: Vec<f64>,
    open: Vec<usize>,
}

impl Network {
    /// A resource of `capacity` bytes/s.
    pub fn add_resource(&mut self, capacity: f64) -> ResourceId {
        self.resources.push(Resource {
            capacity,
            carried: 0.0,
            remaining: 0.0,
            users: 0,
        });
        ResourceId(self.resources.len() as u32 - 1)
    }

    /// Hands a unit in progress over in part after `steps` steps without a hand-over.
    pub fn set_trickle(&mut self, steps: u64) {
        self.trickle_steps = steps;
    }

    pub fn capacity(&self, r: ResourceId) -> f64 {
        self.resources[r.0 as usize].capacity
    }

    pub fn carried(&self, r: ResourceId) -> f64 {
        self.resources[r.0 as usize].carried
    }

    pub fn open(&mut self, hops: &[ResourceId], latency_steps: u64) -> FlowId {
        let mut fixed = [ResourceId(0); MAX_HOPS];
        fixed[..hops.len()].copy_from_slice(hops);
        let flow = Flow {
            hops: fixed,
            hop_count: hops.len(),
            latency_steps,
            units: VecDeque::new(),
            front_sent: 0,
            front_delivered: 0,
            delivered_at: self.steps,
            queued: 0,
            credit: 0.0,
            active: false,
        };
        match self.free.pop() {
            Some(slot) => {
                self.flows[slot as usize] = Some(flow);
                FlowId(slot)
            }
            None => {
                self.flows.push(Some(flow));
                FlowId(self.flows.len() as u32 - 1)
            }
        }
    }

    /// Drops the flow and whatever it still had queued.
    pub fn close(&mut self, id: FlowId) {
        if let Some(slot) = self.flows.get_mut(id.0 as usize) {
            if slot.take().is_some() {
                self.free.push(id.0);
                self.active.retain(|f| *f != id);
            }
        }
    }

    pub fn push(&mut self, id: FlowId, data: Bytes) {
        let Some(Some(flow)) = self.flows.get_mut(id.0 as usize) else {
            return;
        };
        if data.is_empty() {
            return;
        }
        flow.queued += data.len() as u64;
        flow.units.push_back(data);
        if !flow.active {
            flow.active = true;
            self.active.push(id);
        }
    }

    pub fn is_idle(&self) -> bool {
        self.active.is_empty()
    }

    /// Moves `dt` seconds of traffic; reports what each flow finished sending.
    pub fn step(&mut self, dt: f64, out: &mut Vec<Sent>) {
        for r in &mut self.resources {
            r.remaining = r.capacity * dt;
        }
        self.fill();
        self.steps += 1;
        for (i, &id) in self.active.iter().enumerate() {
            let Some(flow) = self.flows[id.0 as usize].as_mut() else {
                continue;
            };
            let budget = flow.credit + self.allocation[i];
            let mut sendable = budget.floor() as u64;
            sendable = sendable.min(flow.queued);
            flow.credit = budget - sendable as f64;
            flow.queued -= sendable;
            for hop in &flow.hops[..flow.hop_count] {
                self.resources[hop.0 as usize].carried += sendable as f64;
            }
            let mut units = Vec::new();
            let mut left = sendable as usize;
            while left > 0 {
                let Some(front) = flow.units.front() else {
                    break;
                };
                let rest = front.len() - flow.front_sent;
                if left < rest {
                    flow.front_sent += left;
                    break;
                }
                left -= rest;
                let delivered = std::mem::take(&mut flow.front_delivered);
                flow.front_sent = 0;
                units.extend(flow.units.pop_front().map(|u| u.slice(delivered..)));
            }
            let trickle_due = self.trickle_steps > 0
                && self.steps - flow.delivered_at >= self.trickle_steps
                && flow.front_sent > flow.front_delivered;
            if trickle_due {
                if let Some(front) = flow.units.front() {
                    units.push(front.slice(flow.front_delivered..flow.front_sent));
                    flow.front_delivered = flow.front_sent;
                }
            }
            if !units.is_empty() {
                flow.delivered_at = self.steps;
            }
            if flow.queued == 0 {
                flow.credit = 0.0;
                flow.active = false;
            }
            if !units.is_empty() {
                out.push(Sent {
                    flow: id,
                    units,
                    latency_steps: flow.latency_steps,
                });
            }
        }
        let flows = &self.flows;
        self.active
            .retain(|id| flows[id.0 as usize].as_ref().is_some_and(|f| f.active));
    }

    /// Max-min fair shares of this step's capacity for the active flows, into `allocation`.
    fn fill(&mut self) {
        let n = self.active.len();
        self.allocation.clear();
        self.allocation.resize(n, 0.0);
        let demand = |flows: &[Option<Flow>], id: FlowId| {
            flows[id.0 as usize]
                .as_ref()
                .map_or(0.0, |f| (f.queued as f64 - f.credit).max(0.0))
        };
        self.open.clear();
        self.open
            .extend((0..n).filter(|&i| demand(&self.flows, self.active[i]) > 0.0));
        for _ in 0..FILL_ROUNDS {
            if self.open.is_empty() {
                break;
            }
            for r in &mut self.resources {
                r.users = 0;
            }
            for &i in &self.open {
                let Some(flow) = &self.flows[self.active[i].0 as usize] else {
                    continue;
                };
                for hop in flow.hops() {
                    self.resources[hop.0 as usize].users += 1;
                }
            }
            // Shares are computed from the round's starting state, so no resource is
            // over-committed whatever the order.
            let mut gives = Vec::with_capacity(self.open.len());
            for &i in &self.open {
                let id = self.active[i];
                let Some(flow) = &self.flows[id.0 as usize] else {
                    gives.push(0.0);
                    continue;
                };
                let share = flow
                    .hops()
                    .iter()
                    .map(|h| {
                        let r = &self.resources[h.0 as usize];
                        r.remaining / f64::from(r.users.max(1))
                    })
                    .fold(f64::INFINITY, f64::min);
                let want = demand(&self.flows, id) - self.allocation[i];
                gives.push(share.min(want).max(0.0));
            }
            for (&i, give) in self.open.iter().zip(&gives) {
                self.allocation[i] += give;
                if let Some(flow) = &self.flows[self.active[i].0 as usize] {
                    for hop in flow.hops() {
                        self.resources[hop.0 as usize].remaining -= give;
                    }
                }
            }
            let (flows, resources, allocation, active) =
                (&self.flows, &self.resources, &self.allocation, &self.active);
            self.open.retain(|&i| {
                let id = active[i];
                let Some(flow) = &flows[id.0 as usize] else {
                    return false;
                };
                let unmet = demand(flows, id) - allocation[i] > 0.5;
                let room = flow
                    .hops()
                    .iter()
                    .all(|h| resources[h.0 as usize].remaining > 0.5);
                unmet && room
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_bytes(out: &[Sent], id: FlowId) -> usize {
        out.iter()
            .filter(|s| s.flow == id)
            .flat_map(|s| &s.units)
            .map(|u| u.len())
            .sum()
    }

    #[test]
    fn a_shared_uplink_is_split_evenly_and_a_bottleneck_frees_capacity() {
        let mut net = Network::default();
        let up = net.add_resource(3000.0);
        let fast = net.add_resource(1e9);
        let slow = net.add_resource(500.0);
        let a = net.open(&[up, fast], 1);
        let b = net.open(&[up, fast], 1);
        let c = net.open(&[up, slow], 1);
        for f in [a, b, c] {
            for _ in 0..100 {
                net.push(f, Bytes::from(vec![0u8; 100]));
            }
        }
        let mut out = Vec::new();
        net.step(1.0, &mut out);
        // c is held to 500 by its downlink; a and b share the remaining 2500.
        assert_eq!(sent_bytes(&out, c), 500);
        assert_eq!(sent_bytes(&out, a), 1200);
        assert_eq!(sent_bytes(&out, b), 1200);
        assert!((net.carried(up) - 3000.0).abs() < 1.0);
    }

    #[test]
    fn a_slow_unit_trickles_out_in_parts_that_add_up() {
        let mut net = Network::default();
        net.set_trickle(3);
        let link = net.add_resource(10.0);
        let f = net.open(&[link], 1);
        let unit: Vec<u8> = (0..45).collect();
        net.push(f, Bytes::from(unit.clone()));
        let mut got = Vec::new();
        let mut steps_with_data = Vec::new();
        for step in 1..=5 {
            let mut out = Vec::new();
            net.step(1.0, &mut out);
            if !out.is_empty() {
                steps_with_data.push(step);
            }
            got.extend(out.iter().flat_map(|s| s.units.iter().flatten().copied()));
        }
        // Parts after 3 steps without a hand-over, the rest when the last byte left.
        assert_eq!(steps_with_data, [3, 5]);
        assert_eq!(got, unit);
    }

    #[test]
    fn units_complete_in_order_and_partial_progress_carries_over() {
        let mut net = Network::default();
        let link = net.add_resource(150.0);
        let f = net.open(&[link], 2);
        net.push(f, Bytes::from_static(&[1; 100]));
        net.push(f, Bytes::from_static(&[2; 100]));
        let mut out = Vec::new();
        net.step(1.0, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].units, vec![Bytes::from_static(&[1; 100])]);
        assert_eq!(out[0].latency_steps, 2);
        out.clear();
        net.step(1.0, &mut out);
        assert_eq!(out[0].units, vec![Bytes::from_static(&[2; 100])]);
        assert!(net.is_idle());
        net.close(f);
        net.push(f, Bytes::from_static(&[3; 10]));
        assert!(net.is_idle(), "a closed flow takes nothing");
    }
}
