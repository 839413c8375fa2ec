//! Zero-copy packet views; filled in by the packet work.
