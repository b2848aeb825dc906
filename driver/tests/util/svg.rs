//! What a plot holds, read back from its SVG as a person would see it: the text on it (title,
//! axis descriptions, tick labels, legend) and the data series drawn (coloured lines and marks).
//! Parsing with an XML parser is the well-formedness check.

use std::path::Path;

/// A plot read back.
#[derive(Debug)]
pub struct Plot {
    /// Every text element, trimmed.
    pub texts: Vec<String>,
    /// Each coloured polyline (a data series, not the black axes or grey mesh): its stroke
    /// colour and how many points it has.
    pub lines: Vec<(String, usize)>,
    /// Filled or stroked circles (markers), by colour.
    pub circles: Vec<String>,
}

impl Plot {
    /// Whether a text element contains `s`.
    pub fn says(&self, s: &str) -> bool {
        self.texts.iter().any(|t| t.contains(s))
    }

    /// The longest line drawn in `color` (`#RRGGBB`), in points.
    pub fn line(&self, color: &str) -> usize {
        self.lines
            .iter()
            .filter(|(c, _)| c == color)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    }
}

pub const RED: &str = "#FF0000";
pub const BLUE: &str = "#0000FF";
pub const GREEN: &str = "#008C00";

/// Reads the SVG at `path`, panicking with the reason if it is not well-formed.
pub fn read(path: &Path) -> Plot {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(
        doc.root_element().tag_name().name(),
        "svg",
        "{}",
        path.display()
    );
    let mut plot = Plot {
        texts: Vec::new(),
        lines: Vec::new(),
        circles: Vec::new(),
    };
    for n in doc.descendants().filter(|n| n.is_element()) {
        match n.tag_name().name() {
            "text" => plot
                .texts
                .push(n.text().unwrap_or_default().trim().to_string()),
            "polyline" => {
                let stroke = n.attribute("stroke").unwrap_or_default().to_uppercase();
                if stroke != "#000000" && !is_grey(&stroke) {
                    let points = n.attribute("points").unwrap_or_default();
                    plot.lines.push((stroke, points.split_whitespace().count()));
                }
            }
            "circle" => {
                let fill = n.attribute("fill").unwrap_or("none");
                let c = if fill == "none" {
                    n.attribute("stroke").unwrap_or_default()
                } else {
                    fill
                };
                plot.circles.push(c.to_uppercase());
            }
            _ => {}
        }
    }
    plot
}

fn is_grey(c: &str) -> bool {
    c.len() == 7 && c[1..3] == c[3..5] && c[3..5] == c[5..7]
}
