//! The memory this machine has for a restore, checked before an image is decoded: an
//! allocation that fails aborts the process instead of returning an error.

use std::path::Path;

use crate::Size;
use crate::restore::host_bytes;

/// Assumed where the system does not say (neither Linux nor another Unix).
const FALLBACK_BYTES: u64 = 8 << 30;

/// Bytes of memory available now: Linux's `MemAvailable` (free memory and what the kernel can
/// reclaim at once), else the physical memory on another Unix, else [`FALLBACK_BYTES`].
pub fn available_bytes() -> u64 {
    mem_available().or_else(physical_memory).unwrap_or(FALLBACK_BYTES)
}

/// `MemAvailable` from /proc/meminfo, in bytes.
fn mem_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(unix)]
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf only reads system configuration values.
    let (pages, page_size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages > 0 && page_size > 0).then(|| pages as u64 * page_size as u64)
}

#[cfg(not(unix))]
fn physical_memory() -> Option<u64> {
    None
}

/// Refuses an image whose restore would not fit the memory available: its pixels at every
/// stage ([`host_bytes`] for a model of this `scale`) and one forward within `forward_bytes`
/// (the device's budget; on a GPU it is the staging copies' bound). The error names the
/// image, its size, the memory needed and the memory there is.
pub fn check_fits(path: &Path, size: Size, scale: usize, forward_bytes: u64, available: u64) -> Result<(), String> {
    let needed = host_bytes(scale, size).saturating_add(forward_bytes);
    if needed <= available {
        return Ok(());
    }
    Err(format!(
        "{} is {size}: restoring it to {} needs about {} MiB of memory, over the {} MiB available",
        path.display(),
        size.scaled(scale),
        needed >> 20,
        available >> 20
    ))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_does_not_fit_and_names_the_figures() {
        let path = Path::new("big.png");
        let size = Size::square(12_000);
        // 2 x 144 MP x 36 bytes = 10368 MB, plus a 4 GiB forward.
        let needed = 2 * 144_000_000 * 36 + (4 << 30);
        assert!(check_fits(path, size, 1, 4 << 30, needed).is_ok());
        let error = check_fits(path, size, 1, 4 << 30, needed - 1).unwrap_err();
        assert_eq!(
            error,
            format!("big.png is 12000x12000: restoring it to 12000x12000 needs about {} MiB of memory, over the {} MiB available", needed >> 20, (needed - 1) >> 20)
        );
        assert!(available_bytes() > 0);
    }
}
