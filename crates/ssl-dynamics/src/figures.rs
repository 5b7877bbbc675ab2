//! Where the report's figures go and the line-plot helpers both report sections draw with.

use crate::error::Result;
use repro_core::plot::{LinePlot, Series, line_plot};
use std::path::Path;

/// Subdirectory of the figures, relative to the report.
pub(crate) const FIGURES: &str = "ssl-dynamics";

/// Draws `p` into `dir/name` and returns its path relative to the report.
pub(crate) fn plot(dir: &Path, name: &str, p: LinePlot) -> Result<String> {
    line_plot(&dir.join(name), &p)?;
    Ok(format!("{FIGURES}/{name}"))
}

/// A line plot with the given title, axis labels, series, log scale and range.
pub(crate) fn lines(
    title: &str,
    x: &str,
    y: &str,
    series: Vec<Series>,
    log_y: bool,
    y_range: Option<(f64, f64)>,
) -> LinePlot {
    LinePlot {
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        series,
        log_y,
        y_range,
    }
}
