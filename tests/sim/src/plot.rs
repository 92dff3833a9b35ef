//! Completion over time as a hand-written SVG: share of peers finished against hours, one step
//! line per run, the lower bound and 1.10 × the bound marked.

use std::fmt::Write as _;

use crate::report::TARGET;

pub struct Series<'a> {
    pub label: &'a str,
    /// Completion times in seconds, sorted.
    pub completions: &'a [f64],
    /// Peers that should finish (the curve's 100 %).
    pub total: usize,
}

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// A tick step of 1, 2 or 5 × 10^k giving about `target` ticks over `span`.
fn tick_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn completion_svg(title: &str, series: &[Series], bound_secs: f64) -> String {
    let last = series
        .iter()
        .filter_map(|s| s.completions.last())
        .copied()
        .fold(bound_secs * 1.15, f64::max);
    let x_step = tick_step(last / 3600.0, 8.0);
    let x_max = (last / 3600.0 / x_step).ceil() * x_step;
    let px = |hours: f64| LEFT + hours / x_max * (W - LEFT - RIGHT);
    let py = |share: f64| H - BOTTOM - share * (H - TOP - BOTTOM);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and ticks.
    let mut x = 0.0;
    while x <= x_max + 1e-9 {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#e5e5e5"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
            px(x),
            TOP,
            H - BOTTOM,
            H - BOTTOM + 18.0,
            x
        );
        x += x_step;
    }
    for i in 0..=10 {
        let share = f64::from(i) / 10.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#e5e5e5"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}%</text>"##,
            LEFT,
            py(share),
            W - RIGHT,
            LEFT - 8.0,
            py(share) + 4.0,
            i * 10
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">time (hours)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{0}" text-anchor="middle" transform="rotate(-90 18 {0})">peers finished</text>"#,
        (TOP + H - BOTTOM) / 2.0
    );
    // Bound markers.
    let target_label = format!("{TARGET:.2} × bound");
    for (factor, label, dash) in [
        (1.0, "lower bound", "6 4"),
        (TARGET, target_label.as_str(), "2 4"),
    ] {
        let xb = px(bound_secs * factor / 3600.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{xb:.1}" y1="{TOP}" x2="{xb:.1}" y2="{}" stroke="#444" stroke-width="1.5" stroke-dasharray="{dash}"/><text x="{:.1}" y="{}" text-anchor="{}" fill="#444">{label} {:.2} h</text>"##,
            H - BOTTOM,
            if factor > 1.0 { xb + 4.0 } else { xb - 4.0 },
            TOP + 16.0 + if factor > 1.0 { 16.0 } else { 0.0 },
            if factor > 1.0 { "start" } else { "end" },
            bound_secs * factor / 3600.0
        );
    }
    // Step curves.
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let total = s.total.max(1) as f64;
        let mut path = format!("M{:.1},{:.1}", px(0.0), py(0.0));
        for (k, t) in s.completions.iter().enumerate() {
            let xh = px(t / 3600.0);
            let _ = write!(
                path,
                " L{xh:.1},{:.1} L{xh:.1},{:.1}",
                py(k as f64 / total),
                py((k + 1) as f64 / total)
            );
        }
        let _ = writeln!(
            svg,
            r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>"#
        );
        let ly = TOP + 60.0 + 20.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{color}" stroke-width="3"/><text x="{3}" y="{4}">{5}</text>"#,
            LEFT + 16.0,
            ly,
            LEFT + 40.0,
            LEFT + 48.0,
            ly + 4.0,
            escape(s.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(12.5, 8.0), 2.0);
        assert_eq!(tick_step(0.9, 8.0), 0.2);
        assert_eq!(tick_step(130.0, 8.0), 20.0);
    }

    #[test]
    fn the_plot_is_well_formed_svg_with_its_markers() {
        let times = [10.0, 20.0, 30.0];
        let svg = completion_svg(
            "t <1>",
            &[Series {
                label: "sites on",
                completions: &times,
                total: 3,
            }],
            25.0,
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("lower bound") && svg.contains("1.10 × bound"));
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("sites on"));
    }
}
