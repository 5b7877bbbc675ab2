//! Keeping freed tensor buffers in the process.
//!
//! A training step allocates and frees the same large buffers every time (activations,
//! gradients, PES's 31 MB per-particle weight matrices). glibc's malloc serves blocks above
//! its mmap threshold (dynamic, at most 32 MiB) with fresh `mmap`s and returns trimmed heap
//! to the kernel, so each step pays page faults and page clearing for memory it just freed:
//! 8–10 % of a `pes-mnist-mlp` step in `perf`. [`keep_freed_memory`] raises both thresholds
//! so freed blocks are reused. Peak memory does not grow with the run: the same sizes are
//! freed and reallocated each step (`cargo xtask bench` reports peak RSS to check it).

/// Large blocks come from and return to the heap, which is not trimmed; idempotent. A no-op
/// off glibc (other allocators decide for themselves).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::Once;
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters; called once, before or
            // between allocations, which glibc supports.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
                libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            }
        });
    }
}

/// Peak resident set size of this process in bytes (`VmHWM` of `/proc/self/status`), where
/// the system reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// Current resident set size in bytes (`VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// [`peak_rss_bytes`] in MiB for reports, 0 where the system does not say.
pub fn peak_rss_mib() -> f64 {
    mib(peak_rss_bytes())
}

/// [`rss_bytes`] in MiB for reports, 0 where the system does not say.
pub fn rss_mib() -> f64 {
    mib(rss_bytes())
}

fn mib(bytes: Option<u64>) -> f64 {
    bytes.map_or(0.0, |b| b as f64 / (1u64 << 20) as f64)
}

/// The kiB value of the line starting with `field` in `/proc/self/status`.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_and_counts_touched_memory() {
        keep_freed_memory();
        keep_freed_memory();
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let (rss, peak) = (rss_bytes().unwrap(), peak_rss_bytes().unwrap());
        assert!(rss >= 64 << 20, "a touched 64 MiB block is resident: {rss}");
        assert!(peak >= rss, "peak {peak} below current {rss}");
    }
}
