//! Parsing a large reference holds one array of symbols, not several: a
//! 2-million-line reference peaked at 1 GB in `abibot diff` when the parser
//! grew its vector by doubling and sorted into a second copy. A counting
//! allocator measures the peak of one parse.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use abibot::formats;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_parse_holds_the_symbols_once_plus_small_indexes() {
    const LINES: usize = 300_000;
    let mut text = String::with_capacity(LINES * 48);
    // Written in reverse name order so that the sort moves every symbol.
    for i in (0..LINES).rev() {
        let module = if i % 5 == 0 { "vmlinux" } else { "fs/m001" };
        text.push_str(&format!(
            "0x{:08x}\tsym{i:07}\t{module}\tEXPORT_SYMBOL\t\n",
            i * 7
        ));
    }
    let bytes = text.into_bytes();
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let set = formats::parse(&bytes, None, "big").unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert_eq!(set.len(), LINES);
    assert_eq!(set.iter().next().unwrap().name, "sym0000000");
    // The set itself (an over-estimate: it counts allocator overhead too),
    // plus the sort's index (name prefix, name, position: 32 bytes) and the
    // destination of each symbol (8 bytes). A second array of symbols, or
    // a vector grown by doubling, would add 100+ bytes per symbol.
    let bound = set.approx_bytes() + 40 * LINES + (1 << 20);
    assert!(
        peak <= bound,
        "peak {peak} > {bound} ({} per symbol)",
        peak / LINES
    );
}
