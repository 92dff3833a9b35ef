//! Per-office lines for the progress log (`RUST_LOG=bitfleet_sim::offices=debug`): what an
//! office holds, what crosses its WAN link and how busy its members' uplinks are. They showed
//! why five-laptop offices finish last: their uplinks are full, and 40 % of them go out over
//! the WAN to pay for what the office takes in (docs/simulation.md, item 11).

/// One office at the end of a period. Byte counts are since the start; rates in bytes/s.
#[derive(Debug, Clone)]
pub(crate) struct OfficeSample {
    pub name: String,
    pub members: usize,
    pub done: usize,
    /// Share of the pieces at least one member holds.
    pub union: f64,
    /// Members' mean share of the pieces.
    pub mean: f64,
    pub wan_in: f64,
    pub wan_out: f64,
    /// Everything the members' uplinks carried, LAN and WAN.
    pub members_up: f64,
    pub members_up_capacity: f64,
    /// One member's downlink: the WAN intake is given in these.
    pub member_down_capacity: f64,
}

/// Carried bytes at the last report, by office: WAN in, WAN out, members' uplinks.
#[derive(Debug, Default)]
pub(crate) struct OfficeLog {
    before: Vec<(f64, f64, f64)>,
}

impl OfficeLog {
    /// One line per office for the `seconds` since the last call.
    pub fn report(&mut self, offices: &[OfficeSample], seconds: f64) -> Vec<String> {
        self.before.resize(offices.len(), (0.0, 0.0, 0.0));
        offices
            .iter()
            .zip(&mut self.before)
            .map(|(o, before)| {
                let (wan_in, wan_out, up) = *before;
                *before = (o.wan_in, o.wan_out, o.members_up);
                let share = |bytes: f64, capacity: f64| {
                    if capacity > 0.0 {
                        bytes / (capacity * seconds)
                    } else {
                        0.0
                    }
                };
                format!(
                    "{}: {} laptops, {} done; holds {:.0} % (members {:.0} % on average); \
                     WAN in {:.2} laptop links, out {:.0} % of the members' uplinks; \
                     uplinks {:.0} % used",
                    o.name,
                    o.members,
                    o.done,
                    o.union * 100.0,
                    o.mean * 100.0,
                    share(o.wan_in - wan_in, o.member_down_capacity),
                    share(o.wan_out - wan_out, o.members_up_capacity) * 100.0,
                    share(o.members_up - up, o.members_up_capacity) * 100.0,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(wan_in: f64, wan_out: f64, members_up: f64) -> OfficeSample {
        OfficeSample {
            name: "office-01".into(),
            members: 5,
            done: 1,
            union: 1.0,
            mean: 0.5,
            wan_in,
            wan_out,
            members_up,
            members_up_capacity: 50.0,
            member_down_capacity: 10.0,
        }
    }

    #[test]
    fn reports_each_period_against_the_office_links() {
        let mut log = OfficeLog::default();
        let first = log.report(&[office(150.0, 100.0, 400.0)], 10.0);
        assert_eq!(
            first,
            [
                "office-01: 5 laptops, 1 done; holds 100 % (members 50 % on average); \
              WAN in 1.50 laptop links, out 20 % of the members' uplinks; uplinks 80 % used"
            ]
        );
        // Only what moved since the last report counts.
        let second = log.report(&[office(150.0, 150.0, 900.0)], 10.0);
        assert!(
            second[0].ends_with(
                "WAN in 0.00 laptop links, out 10 % of the members' uplinks; uplinks 100 % used"
            ),
            "{}",
            second[0]
        );
    }
}
