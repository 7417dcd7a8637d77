//! SVG plots: `<workload>.svg` for each closed workload (median with a min–max bar per
//! config, grouped by procs) and `latency_load.svg` (the server's p99 sojourn against
//! offered load, one line per config, log y axis, one panel per procs, the SLO dashed).

use std::path::Path;

use plotters::prelude::*;

use super::cli::Args;
use super::stats::Summary;
use super::workloads::Kind;

type Res = Result<(), Box<dyn std::error::Error>>;

fn color(i: usize) -> RGBColor {
    // Okabe–Ito: distinguishable with colour-blindness; enough for the 8 configs.
    const C: [RGBColor; 8] = [
        RGBColor(0, 0, 0),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 158, 115),
        RGBColor(213, 94, 0),
        RGBColor(0, 114, 178),
        RGBColor(204, 121, 167),
        RGBColor(150, 150, 0),
    ];
    C[i % C.len()]
}

/// Writes every plot the summary has data for.
pub fn write_all(args: &Args, summary: &[Summary], out: &Path) -> Res {
    for w in &args.workloads {
        match w.kind {
            Kind::Closed { .. } => {
                closed(args, w.name, summary, &out.join(format!("{}.svg", w.name)))?
            }
            Kind::OpenLoop => latency_load(args, summary, &out.join("latency_load.svg"))?,
        }
    }
    Ok(())
}

fn closed(args: &Args, workload: &str, summary: &[Summary], path: &Path) -> Res {
    let cells: Vec<&Summary> = summary.iter().filter(|s| s.workload == workload).collect();
    let ymax = cells.iter().map(|c| c.max).fold(0.0, f64::max) * 1.15;
    let np = args.procs.len();
    let nc = args.configs.len();
    let root = SVGBackend::new(path, (220 * np as u32 + 420, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let procs = args.procs.clone();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{workload}: wall time (median, min–max)"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .right_y_label_area_size(0)
        .build_cartesian_2d(-0.5f64..(np as f64 - 0.5) + 1.4, 0f64..ymax.max(1e-3))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(np * 2 + 4)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < procs.len() {
                format!("procs={}", procs[i as usize])
            } else {
                String::new()
            }
        })
        .y_desc("ms (lower is better)")
        .draw()?;
    // Configs side by side inside each procs group.
    let width = 0.7;
    for (ci, cfg) in args.configs.iter().enumerate() {
        let col = color(ci);
        let off = -width / 2.0 + width * (ci as f64 + 0.5) / nc as f64;
        let mine: Vec<(f64, &Summary)> = cells
            .iter()
            .filter(|c| c.config == cfg.name)
            .filter_map(|c| {
                args.procs
                    .iter()
                    .position(|&p| p == c.procs)
                    .map(|i| (i as f64 + off, *c))
            })
            .collect();
        chart.draw_series(
            mine.iter().map(|(x, c)| {
                PathElement::new(vec![(*x, c.min), (*x, c.max)], col.stroke_width(2))
            }),
        )?;
        chart
            .draw_series(
                mine.iter()
                    .map(|(x, c)| Circle::new((*x, c.median), 5, col.filled())),
            )?
            .label(cfg.name)
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, col.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn latency_load(args: &Args, summary: &[Summary], path: &Path) -> Res {
    let cells: Vec<&Summary> = summary.iter().filter(|s| s.workload == "server").collect();
    let np = args.procs.len();
    let root = SVGBackend::new(path, (560 * np as u32, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, np));
    let lo = cells
        .iter()
        .map(|c| c.median)
        .fold(f64::INFINITY, f64::min)
        .min(args.slo_us);
    let hi = cells
        .iter()
        .map(|c| c.median)
        .fold(0.0, f64::max)
        .max(args.slo_us);
    let (lo, hi) = ((lo * 0.7).max(0.1), hi * 1.5);
    let xmax = args.loads.last().copied().unwrap_or(1.0).max(1.0);
    for (panel, &procs) in panels.iter().zip(&args.procs) {
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "p99 sojourn vs offered load, procs={procs} ({} service, mean {} µs)",
                    args.service.name(),
                    args.service_mean.as_micros()
                ),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..xmax, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("offered load (fraction of procs / mean service)")
            .y_labels(12)
            .y_desc("p99 sojourn µs (log)")
            .draw()?;
        for (ci, cfg) in args.configs.iter().enumerate() {
            let col = color(ci);
            let pts: Vec<(f64, f64)> = cells
                .iter()
                .filter(|c| c.config == cfg.name && c.procs == procs)
                .map(|c| (c.load.unwrap_or(0.0), c.median))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?
                .label(cfg.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        }
        let slo = args.slo_us;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, slo), (xmax, slo)],
                6,
                4,
                RGBColor(200, 0, 0).stroke_width(1),
            ))?
            .label(format!("SLO {slo} µs"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(200, 0, 0)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
