//! Where capacity goes, for the progress log: how much of each kind of host's upload the
//! last period used (the bound assumes nearly all of it, all the time), and how evenly the
//! downlinks of the laptops still downloading were fed (one fed at 60 % in the middle of a
//! roll-out never catches up: nobody downloads faster than its link).

/// What a host is, for the upload figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostClass {
    /// A seed from the start (the origin server).
    Origin,
    /// On a site's LAN.
    Office,
    /// Alone in the field.
    Field,
}

/// One host's links at the end of a period.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links {
    pub class: HostClass,
    /// Bytes its uplink and downlink have carried since the start.
    pub up_carried: f64,
    pub down_carried: f64,
    /// Bytes per second.
    pub up_capacity: f64,
    pub down_capacity: f64,
    /// Online and still downloading.
    pub downloading: bool,
}

/// Carried bytes at the last report, by host.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    before: Vec<(f64, f64)>,
}

impl Usage {
    /// The upload used by class and the spread of downlink use over the `seconds` since the
    /// last call, as two log-ready texts.
    pub fn report(&mut self, hosts: &[Links], seconds: f64) -> (String, String) {
        let mut upload = [(0.0, 0.0); 3];
        let mut fed = Vec::new();
        for (h, links) in hosts.iter().enumerate() {
            let (up0, down0) = self.before.get(h).copied().unwrap_or_default();
            let class = match links.class {
                HostClass::Origin => 0,
                HostClass::Office => 1,
                HostClass::Field => 2,
            };
            upload[class].0 += links.up_carried - up0;
            upload[class].1 += links.up_capacity * seconds;
            if links.downloading && links.down_capacity > 0.0 {
                fed.push((links.down_carried - down0) / (links.down_capacity * seconds));
            }
        }
        self.before = hosts
            .iter()
            .map(|l| (l.up_carried, l.down_carried))
            .collect();
        let percent = |(moved, capacity): (f64, f64)| {
            if capacity > 0.0 {
                format!("{:.0}", moved / capacity * 100.0)
            } else {
                "-".into()
            }
        };
        let total = upload
            .iter()
            .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
        let upload_used = format!(
            "{} % (origin {}, offices {}, field {})",
            percent(total),
            percent(upload[0]),
            percent(upload[1]),
            percent(upload[2])
        );
        fed.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let i = ((fed.len().saturating_sub(1)) as f64 * q).round() as usize;
            fed.get(i)
                .map_or("-".into(), |f| format!("{:.0}", f * 100.0))
        };
        let downlinks_fed = format!(
            "min {} p10 {} p50 {} p90 {} % of {}",
            quantile(0.0),
            quantile(0.1),
            quantile(0.5),
            quantile(0.9),
            fed.len()
        );
        (upload_used, downlinks_fed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(class: HostClass, up: f64, down: f64, downloading: bool) -> Links {
        Links {
            class,
            up_carried: up,
            down_carried: down,
            up_capacity: 10.0,
            down_capacity: 10.0,
            downloading,
        }
    }

    #[test]
    fn reports_each_period_by_class_and_downlink_spread() {
        let mut usage = Usage::default();
        let first = [
            links(HostClass::Origin, 50.0, 0.0, false),
            links(HostClass::Office, 100.0, 100.0, true),
            links(HostClass::Field, 0.0, 20.0, true),
        ];
        let (up, fed) = usage.report(&first, 10.0);
        assert_eq!(up, "50 % (origin 50, offices 100, field 0)");
        assert_eq!(fed, "min 20 p10 20 p50 100 p90 100 % of 2");
        // Only what moved since the last report counts.
        let second = [
            links(HostClass::Origin, 50.0, 0.0, false),
            links(HostClass::Office, 150.0, 150.0, true),
            links(HostClass::Field, 100.0, 120.0, false),
        ];
        let (up, fed) = usage.report(&second, 10.0);
        assert_eq!(up, "50 % (origin 0, offices 50, field 100)");
        assert_eq!(fed, "min 50 p10 50 p50 50 p90 50 % of 1");
    }

    #[test]
    fn nobody_downloading_reports_no_spread() {
        let mut usage = Usage::default();
        let (_, fed) = usage.report(&[], 600.0);
        assert_eq!(fed, "min - p10 - p50 - p90 - % of 0");
    }
}
