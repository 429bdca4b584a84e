//! Gives freed heap memory back to the system. glibc's allocator returns only
//! the free space at the top of its heaps on its own; what a burst of work
//! frees below live objects stays resident. After a storm (a thousand
//! policies judged at once, their series, contexts and plans freed) the
//! operator kept 28 MiB it no longer used, for as long as it ran, which counts
//! against its memory limit (10,000 policies after a storm: 134.3 MiB resident
//! without the release, 106.5 with it). [`release_free`] asks glibc to release
//! every free page (`malloc_trim(0)`, which `madvise`s them away); `run` calls
//! it periodically ([`RELEASE_EVERY`]). Elsewhere than glibc it does nothing.

use std::time::Duration;

/// How often `run` releases freed memory: cheap (a walk over the allocator's
/// free lists), and soon enough after a storm.
pub const RELEASE_EVERY: Duration = Duration::from_secs(30);

/// Releases the allocator's free pages to the system; true when glibc
/// released some.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free() -> bool {
    // SAFETY: malloc_trim(3) has no preconditions: it only walks glibc's own
    // free lists, under the allocator's locks, and tells the kernel which free
    // pages it no longer needs. One of the workspace's two unsafe blocks
    // (`unsafe_code` is denied; the other is the fault injector's kill).
    #[allow(unsafe_code)]
    let released = unsafe { libc::malloc_trim(0) };
    released != 0
}

/// Releases the allocator's free pages to the system (glibc only).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free() -> bool {
    false
}

/// Releases freed memory every [`RELEASE_EVERY`], for as long as it runs.
pub async fn release_periodically() {
    let mut tick = tokio::time::interval(RELEASE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = std::time::Instant::now();
        let released = release_free();
        tracing::debug!(
            released,
            took_ms = started.elapsed().as_millis() as u64,
            "freed memory released"
        );
    }
}
