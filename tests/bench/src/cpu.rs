//! How busy the whole machine's CPUs were during a phase, from `/proc/stat`: on 2 cores the
//! target, its database, the load generator and the partner share them, so a phase at (nearly)
//! every core busy was limited by the CPU, not by the target's waits.

/// The machine's CPU time counters at one moment, in clock ticks summed over every core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// The counters now; `None` where `/proc/stat` cannot be read (not Linux).
    pub fn now() -> Option<Self> {
        parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The share of CPU time, over every core, that was busy between `earlier` and this.
    pub fn busy_since(&self, earlier: &Self) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let busy = self.busy.checked_sub(earlier.busy)?;
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

/// The aggregate `cpu` line: user nice system idle iowait irq softirq steal (guest time is
/// already counted in user). Idle and iowait are the idle time; the rest is busy.
fn parse_stat(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = fields.try_into().ok()?;
    Some(CpuTimes {
        busy: user + nice + system + irq + softirq + steal,
        total: user + nice + system + idle + iowait + irq + softirq + steal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_share_comes_from_the_aggregate_line() {
        let before =
            parse_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n")
                .expect("parse");
        let after = parse_stat("cpu  250 10 90 850 50 5 5 0 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\n")
            .expect("parse");
        // busy 150 -> 360 (+210), idle 850 -> 900 (+50): 210 of 260.
        let share = after.busy_since(&before).expect("share");
        assert!((share - 210.0 / 260.0).abs() < 1e-9, "{share}");
        assert_eq!(before.busy_since(&after), None, "counters only go up");
        assert_eq!(parse_stat("cpu  1 2 3\n"), None, "too few fields");
        assert!(CpuTimes::now().is_some(), "this machine's /proc/stat");
    }
}
