//! The 24-hour usage chart, drawn on the server as SVG: no chart library, no script.

use time::PrimitiveDateTime;

/// Drawing area, in SVG units.
const WIDTH: i64 = 720;
const PLOT_HEIGHT: i64 = 160;
const TOP: i64 = 10;

/// One hour's bar: successes stacked under failures.
pub struct Bar {
    /// Left edge.
    pub x: i64,
    /// Width.
    pub width: i64,
    /// Top of the success part.
    pub ok_y: i64,
    /// Height of the success part.
    pub ok_height: i64,
    /// Top of the failure part.
    pub failed_y: i64,
    /// Height of the failure part.
    pub failed_height: i64,
    /// Hover text.
    pub title: String,
}

/// An hour label under the bars.
pub struct Tick {
    /// Centre.
    pub x: i64,
    /// `14:00`.
    pub label: String,
}

/// The chart's drawing instructions.
pub struct UsageChart {
    /// One per hour, oldest first.
    pub bars: Vec<Bar>,
    /// Every sixth hour.
    pub ticks: Vec<Tick>,
    /// The tallest bar's count, for the scale label.
    pub max: i64,
    /// Totals over the 24 hours.
    pub succeeded: i64,
    /// Totals over the 24 hours.
    pub failed: i64,
    /// Baseline position.
    pub baseline: i64,
    /// Label row position.
    pub label_y: i64,
}

impl UsageChart {
    /// Lays out 24 hourly bars ending with the hour that holds `now`, from counts per
    /// hour start.
    pub fn new(now: PrimitiveDateTime, hours: &[(PrimitiveDateTime, i64, i64)]) -> Self {
        let slots = crate::usage::last_day(now, hours);
        let max = slots
            .iter()
            .map(|(_, ok, failed)| ok + failed)
            .max()
            .unwrap_or(0)
            .max(1);
        let slot_width = WIDTH / 24;
        let scale = |count: i64| count * PLOT_HEIGHT / max;
        let baseline = TOP + PLOT_HEIGHT;
        let label = |hour: PrimitiveDateTime| format!("{:02}:00", hour.hour());
        let bars = slots
            .iter()
            .enumerate()
            .map(|(i, (hour, ok, failed))| {
                let ok_height = scale(*ok);
                let failed_height = scale(*failed);
                Bar {
                    x: i as i64 * slot_width + 2,
                    width: slot_width - 4,
                    ok_y: baseline - ok_height,
                    ok_height,
                    failed_y: baseline - ok_height - failed_height,
                    failed_height,
                    title: format!("{} UTC: {ok} successful, {failed} failed", label(*hour)),
                }
            })
            .collect();
        let ticks = slots
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 6 == 0 || *i == 23)
            .map(|(i, (hour, _, _))| Tick {
                x: i as i64 * slot_width + slot_width / 2,
                label: label(*hour),
            })
            .collect();
        Self {
            bars,
            ticks,
            max,
            succeeded: slots.iter().map(|(_, ok, _)| ok).sum(),
            failed: slots.iter().map(|(_, _, failed)| failed).sum(),
            baseline,
            label_y: baseline + 18,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_hour_and_stack_failures_on_successes() {
        let now = datetime!(2026-11-03 14:35);
        let chart = UsageChart::new(
            now,
            &[
                (datetime!(2026-11-03 14:00), 30, 10),
                (datetime!(2026-11-03 13:00), 20, 0),
                (datetime!(2026-11-01 13:00), 99, 99),
            ],
        );
        assert_eq!(chart.bars.len(), 24);
        assert_eq!(
            (chart.max, chart.succeeded, chart.failed),
            (40, 50, 10),
            "older hours are left out"
        );
        let last = &chart.bars[23];
        assert_eq!(
            last.ok_height + last.failed_height,
            PLOT_HEIGHT,
            "the busiest hour is full height"
        );
        assert_eq!(
            last.failed_y + last.failed_height,
            last.ok_y,
            "failures sit on successes"
        );
        assert!(last.title.starts_with("14:00 UTC: 30 successful, 10 failed"));
        assert_eq!(chart.bars[22].ok_height, 80);
        assert_eq!(chart.bars[0].ok_height, 0);
    }
}
