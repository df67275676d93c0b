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

/// Each bar takes two lines, its label above it, so the chart stays legible when it is scaled
/// down to a phone's width.
const ROW: f64 = 40.0;
/// The drawing's width in its own units; the page scales it to the column.
const WIDTH: f64 = 440.0;
/// Room right of the longest bar for its value.
const VALUE_WIDTH: f64 = 70.0;

/// The chart: `title` is its accessible name; `summary` the text alternative of its content.
pub fn bar_chart(title: &str, summary: &str, bars: &[Bar]) -> Markup {
    let max = bars
        .iter()
        .filter_map(|b| b.value)
        .map(f64::abs)
        .fold(0.0_f64, f64::max);
    let height = ROW * bars.len() as f64 + 8.0;
    let bar_width = WIDTH - VALUE_WIDTH;
    // No fixed size: the width class fills a phone's column and two thirds of a desktop's, and
    // the height follows from the viewBox.
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(format!("{title}. {summary}"))
            viewBox=(format!("0 0 {WIDTH} {height}")) class="signpost-chart nhsuk-u-width-two-thirds" {
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
                text x="0" y=(y + 13.0) font-size="13" fill="#212b32" { (bar.label) }
                @if let Some(v) = bar.value {
                    @let w = if max > 0.0 { (v.abs() / max * bar_width).max(1.0) } else { 1.0 };
                    rect x="0" y=(y + 18.0) width=(w) height="14"
                        fill=(if bar.fill == Fill::Solid { "#003087" } else { "url(#signpost-hatch)" })
                        stroke="#003087" stroke-width="1" {}
                    text x=(w + 6.0) y=(y + 30.0) font-size="13" fill="#212b32" { (shown(Some(v))) }
                } @else {
                    text x="0" y=(y + 30.0) font-size="13" fill="#212b32" font-style="italic" { (PreEscaped("suppressed")) }
                }
            }
        }
    }
}
