//! SVG plots: `<workload>.svg` for each closed workload (median dot, interquartile box
//! and min–max whisker per config, grouped by procs), `latency_load.svg` (the server's
//! p99 sojourn against offered load, one line per config, log y axis, one panel per
//! procs, the SLO dashed) and, under `--sim`, `sim_counters.svg` (a panel per workload:
//! each scheduling counter per config, log y axis).

use std::path::Path;

use plotters::prelude::*;

use super::cli::Args;
use super::stats::Summary;
use super::workloads::Kind;

type Res = Result<(), Box<dyn std::error::Error>>;

fn color(i: usize) -> RGBColor {
    // Okabe–Ito (distinguishable with colour-blindness) for the first 8, then 4 more
    // dark, distinct ones: enough for every configuration at once.
    const C: [RGBColor; 12] = [
        RGBColor(0, 0, 0),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 158, 115),
        RGBColor(213, 94, 0),
        RGBColor(0, 114, 178),
        RGBColor(204, 121, 167),
        RGBColor(150, 150, 0),
        RGBColor(120, 120, 120),
        RGBColor(140, 70, 20),
        RGBColor(90, 40, 140),
        RGBColor(200, 30, 60),
    ];
    C[i % C.len()]
}

/// Writes every plot the summary has data for.
pub fn write_all(args: &Args, summary: &[Summary], out: &Path) -> Res {
    ratios(args, summary, &out.join("ratios.svg"))?;
    if args.sim {
        return sim_counters(args, summary, &out.join("sim_counters.svg"));
    }
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

/// The configurations' colours and names, drawn into `area` (a legend outside the plot,
/// so it never hides a point).
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    args: &Args,
    title: &str,
) -> Res
where
    DB::ErrorType: 'static,
{
    area.draw(&Text::new(
        title.to_string(),
        (10, 34),
        ("sans-serif", 14).into_font(),
    ))?;
    for (ci, cfg) in args.configs.iter().enumerate() {
        let y = 60 + 22 * ci as i32;
        area.draw(&Circle::new((20, y), 5, color(ci).filled()))?;
        area.draw(&Text::new(
            cfg.name,
            (32, y - 7),
            ("sans-serif", 14).into_font(),
        ))?;
    }
    Ok(())
}

fn closed(args: &Args, workload: &str, summary: &[Summary], path: &Path) -> Res {
    let cells: Vec<&Summary> = summary.iter().filter(|s| s.workload == workload).collect();
    let ymax = cells.iter().map(|c| c.max).fold(0.0, f64::max) * 1.1;
    let np = args.procs.len();
    let nc = args.configs.len();
    let plot_w = 120 + 34 * (nc as u32).max(6) * np as u32;
    let root = SVGBackend::new(path, (plot_w + 190, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(plot_w);
    let procs = args.procs.clone();
    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!("{workload}: wall time (median, IQR, min–max)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(np as f64 - 0.5), 0f64..ymax.max(1e-3))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(np * 2 + 1)
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
    let width = 0.84;
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
                PathElement::new(vec![(*x, c.min), (*x, c.max)], col.stroke_width(1))
            }),
        )?;
        chart
            .draw_series(mine.iter().map(|(x, c)| {
                PathElement::new(vec![(*x, c.q1), (*x, c.q3)], col.stroke_width(6))
            }))?;
        chart.draw_series(
            mine.iter()
                .map(|(x, c)| Circle::new((*x, c.median), 5, col.filled())),
        )?;
    }
    legend(&right, args, "configs")?;
    root.present()?;
    Ok(())
}

fn latency_load(args: &Args, summary: &[Summary], path: &Path) -> Res {
    let cells: Vec<&Summary> = summary.iter().filter(|s| s.workload == "server").collect();
    let np = args.procs.len();
    let root = SVGBackend::new(path, (560 * np as u32 + 190, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(560 * np as u32);
    let panels = left.split_evenly((1, np));
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
    // Down to a power of ten, so the log axis has labelled ticks below the data.
    let lo = 10f64.powf((lo * 0.9).max(0.1).log10().floor());
    let hi = hi * 1.5;
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
            .y_label_formatter(&|v| count_label(*v))
            .light_line_style(RGBColor(244, 244, 244))
            .y_desc("p99 sojourn µs (log)")
            .draw()?;
        for (ci, cfg) in args.configs.iter().enumerate() {
            let col = color(ci);
            let pts: Vec<(f64, f64)> = cells
                .iter()
                .filter(|c| c.config == cfg.name && c.procs == procs)
                .map(|c| (c.load.unwrap_or(0.0), c.median))
                .collect();
            chart.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        }
        let slo = args.slo_us;
        chart.draw_series(DashedLineSeries::new(
            vec![(0.0, slo), (xmax, slo)],
            6,
            4,
            RGBColor(200, 0, 0).stroke_width(1),
        ))?;
    }
    legend(&right, args, "configs")?;
    let y = 60 + 22 * args.configs.len() as i32 + 8;
    right.draw(&PathElement::new(
        vec![(12, y), (20, y)],
        RGBColor(200, 0, 0).stroke_width(1),
    ))?;
    right.draw(&PathElement::new(
        vec![(24, y), (30, y)],
        RGBColor(200, 0, 0).stroke_width(1),
    ))?;
    right.draw(&Text::new(
        format!("SLO {} µs", args.slo_us),
        (36, y - 7),
        ("sans-serif", 14).into_font(),
    ))?;
    root.present()?;
    Ok(())
}

/// `ratios.svg`: every configuration's paired ratio to `go` (median dot, interquartile
/// bar) for each closed workload × procs, on a log axis with 1 (= `go`) drawn across;
/// wall time, or schedule steps under `--sim`.
fn ratios(args: &Args, summary: &[Summary], path: &Path) -> Res {
    let groups: Vec<(&str, usize)> = args
        .workloads
        .iter()
        .filter(|w| matches!(w.kind, Kind::Closed { .. }))
        .flat_map(|w| args.procs.iter().map(move |&p| (w.name, p)))
        .filter(|(w, p)| summary.iter().any(|c| c.workload == *w && c.procs == *p))
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let nc = args.configs.len();
    let cells: Vec<(usize, usize, [f64; 3])> = groups
        .iter()
        .enumerate()
        .flat_map(|(gi, (w, p))| {
            args.configs
                .iter()
                .enumerate()
                .filter_map(move |(ci, cfg)| {
                    summary
                        .iter()
                        .find(|c| c.workload == *w && c.procs == *p && c.config == cfg.name)
                        .and_then(|c| c.paired)
                        .map(|q| (gi, ci, q))
                })
        })
        .filter(|(_, _, q)| q.iter().all(|v| v.is_finite() && *v > 0.0))
        .collect();
    // Down to a power of two, so the axis has labelled ticks below 1 too.
    let lo = 2f64.powf(
        (cells.iter().map(|c| c.2[0]).fold(1.0, f64::min) * 0.9)
            .log2()
            .floor(),
    );
    let hi = cells.iter().map(|c| c.2[2]).fold(1.0, f64::max) * 1.25;
    let plot_w = (100 + (12 * nc as u32).max(70) * groups.len() as u32).max(460);
    let root = SVGBackend::new(path, (plot_w + 190, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(plot_w);
    let what = if args.sim {
        "schedule steps"
    } else {
        "wall time"
    };
    let labels: Vec<String> = groups
        .iter()
        .map(|(w, p)| {
            if args.procs.len() > 1 {
                format!("{w} p={p}")
            } else {
                w.to_string()
            }
        })
        .collect();
    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!("{what}: paired ratio to go (median, IQR)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(
            -0.5f64..(groups.len() as f64 - 0.5),
            (lo..hi).log_scale().base(2.0).with_key_points(
                [
                    0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0,
                    16.0, 24.0, 32.0,
                ]
                .into_iter()
                .filter(|v| (lo..=hi).contains(v))
                .collect(),
            ),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v:.2}"))
        .light_line_style(RGBColor(244, 244, 244))
        .y_desc("× go (lower is better)")
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(-0.5, 1.0), (groups.len() as f64 - 0.5, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    let width = 0.84;
    for (gi, ci, [q1, m, q3]) in cells {
        let col = color(ci);
        let x = gi as f64 - width / 2.0 + width * (ci as f64 + 0.5) / nc as f64;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, q1), (x, q3)],
            col.stroke_width(5),
        )))?;
        chart.draw_series(std::iter::once(Circle::new((x, m), 4, col.filled())))?;
    }
    legend(&right, args, "configs")?;
    root.present()?;
    Ok(())
}

/// The counters `sim_counters.svg` shows, with their axis labels.
const SIM_PLOTTED: [(&str, &str); 6] = [
    ("switches", "switches"),
    ("steals", "steals"),
    ("stolen", "stolen"),
    ("global_pulls", "global"),
    ("runnext_runs", "runnext"),
    ("spins", "spins"),
];

/// `--sim`: a panel per workload; in each, the median over the seeds of every counter
/// per config (a dot), on a log axis of count + 1 (so 0 sits on the floor); the last
/// cell is the legend.
fn sim_counters(args: &Args, summary: &[Summary], path: &Path) -> Res {
    let ws: Vec<&str> = args
        .workloads
        .iter()
        .filter(|w| w.simulable())
        .map(|w| w.name)
        .collect();
    let cols = 3usize;
    let rows = ws.len().div_ceil(cols).max(1);
    let strip = 30 + 24 * args.configs.len().div_ceil(4) as u32;
    let root =
        SVGBackend::new(path, (460 * cols as u32, 330 * rows as u32 + strip)).into_drawing_area();
    root.fill(&WHITE)?;
    let (grid, bottom) = root.split_vertically(330 * rows as u32);
    let cells = grid.split_evenly((rows, cols));
    let nc = args.configs.len();
    let procs_note = if args.procs.len() == 1 {
        format!("procs={}", args.procs[0])
    } else {
        format!("procs={} (first of {:?})", args.procs[0], args.procs)
    };
    let idx = |name: &str| {
        super::record::Counters::NAMES
            .iter()
            .position(|n| *n == name)
            .expect("known counter")
    };
    for (panel, w) in cells.iter().zip(&ws) {
        let mine: Vec<&Summary> = summary
            .iter()
            .filter(|c| c.workload == *w && c.procs == args.procs[0])
            .collect();
        let top = mine
            .iter()
            .flat_map(|c| SIM_PLOTTED.iter().map(|(n, _)| c.counters[idx(n)]))
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{w} ({procs_note})"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(55)
            .build_cartesian_2d(
                -0.5f64..(SIM_PLOTTED.len() as f64 - 0.5),
                (1f64..top * 3.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(SIM_PLOTTED.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < SIM_PLOTTED.len() {
                    SIM_PLOTTED[i as usize].1.to_string()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| count_label(*v))
            .y_desc("count + 1 (log)")
            .draw()?;
        let width = 0.8;
        for (ci, cfg) in args.configs.iter().enumerate() {
            let col = color(ci);
            let off = -width / 2.0 + width * (ci as f64 + 0.5) / nc as f64;
            let Some(c) = mine.iter().find(|c| c.config == cfg.name) else {
                continue;
            };
            let pts: Vec<(f64, f64)> = SIM_PLOTTED
                .iter()
                .enumerate()
                .map(|(k, (n, _))| (k as f64 + off, c.counters[idx(n)] + 1.0))
                .collect();
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        }
    }
    // The legend: a strip below the panels, four configurations a row.
    bottom.draw(&Text::new(
        "dot = median over the seeds:",
        (12, 8),
        ("sans-serif", 14).into_font(),
    ))?;
    for (ci, cfg) in args.configs.iter().enumerate() {
        let (x, y) = (240 + 290 * (ci % 4) as i32, 15 + 24 * (ci / 4) as i32);
        bottom.draw(&Circle::new((x, y), 5, color(ci).filled()))?;
        bottom.draw(&Text::new(
            cfg.name,
            (x + 12, y - 7),
            ("sans-serif", 14).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// 1, 10, 100, 1k, 10k, 1M for a log axis of counts.
fn count_label(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{}M", trim_float(v / 1e6)),
        v if v >= 1e3 => format!("{}k", trim_float(v / 1e3)),
        v => trim_float(v),
    }
}

fn trim_float(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
