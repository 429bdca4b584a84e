//! `memory::release_free` on the real allocator, in a process of its own (a
//! test binary with one test): other tests allocating beside it would move the
//! resident set it measures.

use mapek::memory::release_free;
use mapek_test_support::status_kib;

/// Memory freed below live allocations is released: the process's resident set
/// shrinks by most of what was freed.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn freed_memory_below_live_objects_leaves_the_resident_set() {
    let rss_kib = || status_kib(std::process::id(), "VmRSS:");
    // 64 MiB in 64 KiB blocks (below glibc's mmap threshold, so on the
    // heap), each followed by a small block that stays alive.
    let mut freed = Vec::new();
    let mut kept = Vec::new();
    for i in 0..1024u32 {
        freed.push(vec![i as u8 | 1; 64 * 1024 - 64]);
        kept.push(vec![i as u8; 32]);
    }
    let before = rss_kib();
    drop(freed);
    let after_free = rss_kib();
    release_free();
    let after_release = rss_kib();
    eprintln!("RSS {before} KiB, {after_free} after free, {after_release} after release");
    assert!(
        after_release + 32 * 1024 < after_free,
        "RSS {after_free} KiB after free, {after_release} after release"
    );
    assert_eq!(kept.len(), 1024);
}
