//! The open-addressing index shared by the connection table and the persistence templates: slots of
//! (32-bit hash, entry) in a power-of-two array, linear probing, and deletion by backward shift (no
//! tombstones). A slot keeps the full hash so that most mismatches are rejected without touching
//! the entry it names.

/// One slot: an entry's hash and its index (or [`EMPTY`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    /// The entry's full hash; its low bits are the home slot.
    pub hash: u32,
    /// The entry (the owner's encoding), or [`EMPTY`].
    pub entry: u32,
}

/// The entry of an empty slot.
pub(crate) const EMPTY: u32 = u32::MAX;
/// An empty slot.
pub(crate) const EMPTY_SLOT: Slot = Slot { hash: 0, entry: EMPTY };

/// Empties the slot at `hole` of a table of `mask + 1` slots, pulling later entries of its probe run
/// into the hole they may fill, so that every remaining entry stays reachable from its home slot.
pub(crate) fn delete(slots: &mut [Slot], mask: usize, mut hole: usize) {
    let mut j = hole;
    loop {
        j = (j + 1) & mask;
        let s = slots[j];
        if s.entry == EMPTY {
            break;
        }
        let home = s.hash as usize & mask;
        // The entry at j may move to the hole if its home is not in the cyclic range (hole, j].
        let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
        if !stays {
            slots[hole] = s;
            hole = j;
        }
    }
    slots[hole] = EMPTY_SLOT;
}
