//! What the library asks of the operating system beyond files (std only; nothing without it).

/// The machine's memory plus swap in bytes (`MemTotal` + `SwapTotal` of `/proc/meminfo`), read
/// once: no allocation larger than this can ever be backed, so one that is larger is refused
/// with an error before it is made. `None` without `std`, off Linux, or where the file cannot
/// be read.
pub(crate) fn total_memory() -> Option<u64> {
    #[cfg(all(feature = "std", target_os = "linux"))]
    {
        static TOTAL: spin::Once<Option<u64>> = spin::Once::new();
        *TOTAL.call_once(|| {
            let text = std::fs::read_to_string("/proc/meminfo").ok()?;
            let kib = |key: &str| -> Option<u64> {
                let line = text.lines().find(|l| l.starts_with(key))?;
                line[key.len()..]
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            };
            let total = kib("MemTotal:")?.checked_add(kib("SwapTotal:").unwrap_or(0))?;
            total.checked_mul(1024)
        })
    }
    #[cfg(not(all(feature = "std", target_os = "linux")))]
    {
        None
    }
}

#[cfg(all(test, feature = "std", target_os = "linux"))]
mod tests {
    #[test]
    fn total_memory_is_read_on_linux() {
        let m = super::total_memory().expect("/proc/meminfo");
        // Every machine this runs on has more than 64 MiB and less than 64 TiB.
        assert!(m > 64 << 20 && m < 64 << 40, "{m}");
    }
}
