//! Horizontal bar charts as inline SVG, readable without colour: each bar carries its value as
//! text, the two series differ by pattern (hatched or solid) and by name, a suppressed value is
//! written "suppressed" with no bar, and the chart has a text alternative (`role="img"`).

use maud::{Markup, PreEscaped, html};

/// How a bar is drawn: the series it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Solid dark fill.
    Solid,
    /// Diagonal hatching.
    Hatched,
}

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// What it is (group, period, series).
    pub label: String,
    /// Its value; `None` when suppressed.
    pub value: Option<f64>,
    /// Its series' fill.
    pub fill: Fill,
}

/// A value as shown on a bar and in tables.
pub fn shown(value: Option<f64>) -> String {
    match value {
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "suppressed".to_owned(),
    }
}

const ROW: f64 = 26.0;
const LABEL_WIDTH: f64 = 260.0;
const BAR_WIDTH: f64 = 320.0;

/// The chart: `title` is its accessible name; `summary` the text alternative of its content.
pub fn bar_chart(title: &str, summary: &str, bars: &[Bar]) -> Markup {
    let max = bars
        .iter()
        .filter_map(|b| b.value)
        .map(f64::abs)
        .fold(0.0_f64, f64::max);
    let height = ROW * bars.len() as f64 + 8.0;
    let width = LABEL_WIDTH + BAR_WIDTH + 110.0;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(format!("{title}. {summary}"))
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) class="signpost-chart" {
            title { (title) }
            desc { (summary) }
            defs {
                pattern id="signpost-hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)" {
                    rect width="6" height="6" fill="#ffffff" {}
                    line x1="0" y1="0" x2="0" y2="6" stroke="#005eb8" stroke-width="3" {}
                }
            }
            @for (i, bar) in bars.iter().enumerate() {
                @let y = 4.0 + ROW * i as f64;
                text x=(LABEL_WIDTH - 6.0) y=(y + 16.0) text-anchor="end" font-size="13" fill="#212b32" { (bar.label) }
                @if let Some(v) = bar.value {
                    @let w = if max > 0.0 { (v.abs() / max * BAR_WIDTH).max(1.0) } else { 1.0 };
                    rect x=(LABEL_WIDTH) y=(y + 2.0) width=(w) height=(ROW - 8.0)
                        fill=(if bar.fill == Fill::Solid { "#003087" } else { "url(#signpost-hatch)" })
                        stroke="#003087" stroke-width="1" {}
                    text x=(LABEL_WIDTH + w + 6.0) y=(y + 16.0) font-size="13" fill="#212b32" { (shown(Some(v))) }
                } @else {
                    text x=(LABEL_WIDTH + 6.0) y=(y + 16.0) font-size="13" fill="#212b32" font-style="italic" { (PreEscaped("suppressed")) }
                }
            }
        }
    }
}
